//! Writes the labelled quality corpus as JSON lines:
//! `cargo run -p sightline-detect --example gen_corpus > crates/sightline-detect/testdata/corpus.jsonl`

use sightline_detect::corpus::{generate, CORPUS_NOISE, CORPUS_PER_RULE, CORPUS_SEED};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rules = sightline_detect::builtin_rules()?;
    for sample in generate(&rules, CORPUS_SEED, CORPUS_PER_RULE, CORPUS_NOISE) {
        println!("{}", serde_json::to_string(&sample)?);
    }
    Ok(())
}
