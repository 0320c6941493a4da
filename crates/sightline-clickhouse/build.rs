//! Rebuild when a migration is added or changed: `include_dir!` embeds `sql/`, but cargo does
//! not watch the folder by itself.
fn main() {
    println!("cargo:rerun-if-changed=../../sql");
}
