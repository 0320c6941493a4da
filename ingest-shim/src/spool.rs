//! A local append-only spool for events Kafka could not take: when the broker is down or the
//! publish queue is full, events are appended here and replayed, in order, once the broker is
//! back. Size-capped; survives restarts (leftover segments are replayed at start).
//!
//! Layout: `<dir>/<seq>.spool` segments of records `[kind u8][key len u32][key][data len u32]
//! [data]` (little endian), and `<seq>.acked` holding how many records of that segment Kafka
//! has acknowledged, so a retried replay does not send them twice. Records hold the event as
//! it is published (already redacted), never more.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How a spooled record's data is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Wire-format bytes, ready to send.
    Wire = 0,
    /// The event as JSON, still to be encoded (spilled before encoding).
    Json = 1,
}

/// One spooled record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Encoding of `data`.
    pub kind: Kind,
    /// Kafka key.
    pub key: Vec<u8>,
    /// Payload.
    pub data: Vec<u8>,
}

/// Why an append failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool reached `shim.spool_max_bytes`.
    #[error("spool is full ({0} bytes, shim.spool_max_bytes)")]
    Full(u64),
    /// The disk refused.
    #[error("spool I/O: {0}")]
    Io(#[from] io::Error),
}

const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

struct Inner {
    /// Closed segments and the open one, oldest first: (seq, bytes).
    segments: VecDeque<(u64, u64)>,
    writer: Option<(u64, BufWriter<File>)>,
    next_seq: u64,
}

/// The spool. Cheap to share; appends are serialised by a mutex.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: Arc<AtomicU64>,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn seg_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:012}.spool"))
}

fn acked_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:012}.acked"))
}

impl Spool {
    /// Opens (creating) the spool in `dir`; `bytes` reports its size (a metric).
    pub fn open(dir: &Path, max_bytes: u64, bytes: Arc<AtomicU64>) -> io::Result<Self> {
        // Events are redacted, but still say who asked what: a directory the spool creates is
        // the owner's only (an existing one keeps its mode; the files are 0600 either way).
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut segments: Vec<(u64, u64)> = vec![];
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "spool") {
                if let Some(seq) = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
                {
                    segments.push((seq, fs::metadata(&path)?.len()));
                }
            }
        }
        segments.sort_unstable();
        let total: u64 = segments.iter().map(|(_, b)| b).sum();
        bytes.store(total, Ordering::Relaxed);
        let next_seq = segments.last().map_or(0, |(s, _)| s + 1);
        if !segments.is_empty() {
            tracing::warn!(dir = %dir.display(), segments = segments.len(), bytes = total, "events left in the spool; replaying when Kafka is reachable");
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            bytes,
            inner: Mutex::new(Inner {
                segments: segments.into(),
                writer: None,
                next_seq,
            }),
        })
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.inner
            .lock()
            .map(|i| i.segments.is_empty())
            .unwrap_or(true)
    }

    /// Forces what was appended to disk: callers sync once per batch of appends.
    pub fn sync(&self) -> io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("spool lock poisoned"))?;
        match inner.writer.as_mut() {
            Some((_, writer)) => {
                writer.flush()?;
                writer.get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    /// Appends a record and flushes it to the OS; [`Self::sync`] makes a batch durable.
    pub fn append(&self, record: &Record) -> Result<(), SpoolError> {
        let size = 9 + record.key.len() as u64 + record.data.len() as u64;
        if self.bytes() + size > self.max_bytes {
            return Err(SpoolError::Full(self.max_bytes));
        }
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("spool lock poisoned"))?;
        let rotate = match (&inner.writer, inner.segments.back()) {
            (Some((seq, _)), Some((last, bytes))) => seq != last || *bytes >= SEGMENT_BYTES,
            _ => true,
        };
        if rotate {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(seg_path(&self.dir, seq))?;
            inner.writer = Some((seq, BufWriter::new(file)));
            inner.segments.push_back((seq, 0));
        }
        let Some((_, writer)) = inner.writer.as_mut() else {
            return Err(io::Error::other("no spool writer").into());
        };
        writer.write_all(&frame(record))?;
        writer.flush()?;
        if let Some(last) = inner.segments.back_mut() {
            last.1 += size;
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// The oldest segment's records not yet acknowledged, and its sequence number. Closes the
    /// segment to appends first.
    pub fn oldest(&self) -> io::Result<Option<(u64, Vec<Record>)>> {
        let seq = {
            let mut inner = self
                .inner
                .lock()
                .map_err(|_| io::Error::other("spool lock poisoned"))?;
            let Some(&(seq, _)) = inner.segments.front() else {
                return Ok(None);
            };
            if inner.writer.as_ref().is_some_and(|(w, _)| *w == seq) {
                inner.writer = None;
            }
            seq
        };
        let mut raw = vec![];
        File::open(seg_path(&self.dir, seq))?.read_to_end(&mut raw)?;
        let acked: usize = fs::read_to_string(acked_path(&self.dir, seq))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        Ok(Some((seq, parse(&raw).into_iter().skip(acked).collect())))
    }

    /// How many records of segment `seq` were already acknowledged.
    pub fn oldest_acked(&self, seq: u64) -> io::Result<usize> {
        Ok(fs::read_to_string(acked_path(&self.dir, seq))?
            .trim()
            .parse()
            .unwrap_or(0))
    }

    /// Records that `count` records of segment `seq` (from its start) are acknowledged.
    pub fn mark_acked(&self, seq: u64, count: usize) -> io::Result<()> {
        OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(acked_path(&self.dir, seq))?
            .write_all(count.to_string().as_bytes())
    }

    /// Sets a record that can never be sent aside in `<dir>/quarantine` (owner only), whole,
    /// for an operator to look at; returns the file.
    pub fn quarantine(&self, record: &Record) -> io::Result<PathBuf> {
        let path = self.dir.join("quarantine");
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(&frame(record))?;
        file.sync_data()?;
        Ok(path)
    }

    /// Deletes a fully replayed segment.
    pub fn remove(&self, seq: u64) -> io::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("spool lock poisoned"))?;
        if let Some(pos) = inner.segments.iter().position(|(s, _)| *s == seq) {
            if let Some((_, bytes)) = inner.segments.remove(pos) {
                self.bytes
                    .fetch_sub(bytes.min(self.bytes()), Ordering::Relaxed);
            }
        }
        let _ = fs::remove_file(acked_path(&self.dir, seq));
        fs::remove_file(seg_path(&self.dir, seq))
    }
}

/// A record as stored: `[kind u8][key len u32][key][data len u32][data]`, little endian.
fn frame(record: &Record) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(9 + record.key.len() + record.data.len());
    bytes.push(record.kind as u8);
    bytes.extend((record.key.len() as u32).to_le_bytes());
    bytes.extend(&record.key);
    bytes.extend((record.data.len() as u32).to_le_bytes());
    bytes.extend(&record.data);
    bytes
}

/// Records of a segment; a torn record at the end (crash mid-write) is ignored.
fn parse(raw: &[u8]) -> Vec<Record> {
    let mut out = vec![];
    let mut i = 0;
    let u32_at = |i: usize| {
        raw.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    while i < raw.len() {
        let kind = match raw[i] {
            0 => Kind::Wire,
            1 => Kind::Json,
            _ => break,
        };
        let Some(klen) = u32_at(i + 1) else { break };
        let Some(key) = raw.get(i + 5..i + 5 + klen) else {
            break;
        };
        let Some(dlen) = u32_at(i + 5 + klen) else {
            break;
        };
        let Some(data) = raw.get(i + 9 + klen..i + 9 + klen + dlen) else {
            break;
        };
        out.push(Record {
            kind,
            key: key.to_vec(),
            data: data.to_vec(),
        });
        i += 9 + klen + dlen;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        std::env::temp_dir().join(format!("sightline-spool-{}", uuid::Uuid::new_v4()))
    }

    fn rec(i: u8) -> Record {
        Record {
            kind: Kind::Wire,
            key: vec![b'k', i],
            data: vec![i; 10],
        }
    }

    #[test]
    fn append_replay_ack_and_survive_reopening() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let gauge = Arc::new(AtomicU64::new(0));
        let spool = Spool::open(&d, 1 << 20, gauge.clone()).expect("open");
        for i in 0..3 {
            spool.append(&rec(i)).expect("append");
        }
        assert_eq!(gauge.load(Ordering::Relaxed), 3 * (9 + 2 + 10));
        spool.sync().expect("sync");
        let mode = |p: &Path| fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(
            mode(&seg_path(&d, 0)),
            0o600,
            "segments are the owner's only"
        );
        assert_eq!(mode(&d), 0o700);
        let (seq, records) = spool.oldest().expect("read").expect("segment");
        assert_eq!(records, vec![rec(0), rec(1), rec(2)]);
        spool.append(&rec(3)).expect("appends go to a new segment");
        spool.mark_acked(seq, 2).expect("ack");
        assert_eq!(mode(&acked_path(&d, seq)), 0o600);
        drop(spool);

        let reopened = Spool::open(&d, 1 << 20, Arc::new(AtomicU64::new(0))).expect("reopen");
        let (seq, records) = reopened.oldest().expect("read").expect("segment");
        assert_eq!(
            records,
            vec![rec(2)],
            "acknowledged records are not replayed twice"
        );
        reopened.remove(seq).expect("remove");
        let (seq, records) = reopened.oldest().expect("read").expect("segment");
        assert_eq!(records, vec![rec(3)]);
        reopened.remove(seq).expect("remove");
        assert!(reopened.is_empty());
        assert_eq!(reopened.bytes(), 0);
    }

    #[test]
    fn the_cap_is_enforced_and_torn_tails_ignored() {
        let d = dir();
        let spool = Spool::open(&d, 50, Arc::new(AtomicU64::new(0))).expect("open");
        spool.append(&rec(1)).expect("fits");
        spool.append(&rec(2)).expect("fits");
        assert!(matches!(spool.append(&rec(3)), Err(SpoolError::Full(50))));
        let mut raw = fs::read(seg_path(&d, 0)).expect("read");
        raw.extend([0, 5, 0, 0]);
        assert_eq!(parse(&raw).len(), 2);
    }
}
