//! Every occurrence of every keyword, case-insensitively, in one pass.
//!
//! A DFA step is one table load that depends on the previous step's load, so a single cursor
//! is bound by load latency (about 5 cycles a byte), not by throughput. The text is therefore
//! cut into [`LANES`] pieces that are walked in lockstep: the lanes' loads are independent, and
//! the CPU overlaps them. Each lane reads on past its piece by the longest keyword minus one
//! byte, so a keyword that straddles two pieces is found whole by the lane it starts in, and
//! each lane reports only keywords that start in its own piece: every occurrence is reported
//! exactly once.

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind};

use crate::{Error, Result};

/// Cursors walked in lockstep.
const LANES: usize = 4;

/// Transitions the table holds: a power of two, so that indexing needs no bounds check. The
/// built-in rules use about 62,000; production markers add a few each.
const TABLE: usize = 1 << 18;

/// Set on states that have just matched a keyword; above any index into the table.
const MATCHED: u32 = 1 << 31;

/// Below this many bytes a lane, one cursor: splitting would cost more than it saves.
const MIN_PIECE: usize = 64;

/// One keyword occurrence: where it starts, and which keyword (index into the build list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Hit {
    pub start: usize,
    pub keyword: usize,
}

/// Keywords compiled into a dense DFA that reports every occurrence, overlapping ones too.
///
/// The automaton is built by `aho-corasick`, then copied into a table laid out for the
/// lockstep walk: a power-of-two size, so a masked index needs no bounds check, and matching
/// states flagged in their ids, so "did this lane just match?" is one OR a byte.
#[derive(Debug)]
pub(crate) struct Keywords {
    /// Byte to equivalence class.
    classes: [u8; 256],
    /// Number of classes: a state's row length.
    stride: usize,
    /// `trans[state + class]` is the next state: its index premultiplied by `stride`, with
    /// [`MATCHED`] set if it matches something. Masking the index with `TABLE - 1` drops the
    /// flag, so a state can be used as it is.
    trans: Box<[u32; TABLE]>,
    /// Per matching state (by `state / stride`): the keywords it has just matched, with their
    /// lengths.
    matches: Vec<Vec<(usize, usize)>>,
    /// Per state (by `state / stride`): the length of the keyword prefix it has seen.
    depth: Vec<usize>,
    start: u32,
    longest: usize,
}

/// The part of the text a cursor reads, and the part whose keywords it reports.
#[derive(Clone, Copy)]
struct Lane {
    owned: (usize, usize),
    read_end: usize,
}

impl Keywords {
    pub fn new(patterns: &[String]) -> Result<Self> {
        let dfa = DFA::builder()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(patterns)
            .map_err(|e| e.to_string())
            .and_then(|dfa| {
                let start = dfa.start_state(Anchored::No).map_err(|e| e.to_string())?;
                Ok((dfa, start))
            });
        let (dfa, start) = dfa.map_err(|message| Error::Rule {
            rule: "<keywords>".into(),
            message,
        })?;
        Self::from_dfa(&dfa, start).ok_or_else(|| Error::Rule {
            rule: "<keywords>".into(),
            message: format!(
                "too many keywords: their automaton needs more than {TABLE} transitions; \
                 use fewer or longer production markers"
            ),
        })
    }

    /// Copies the states reachable from `start` into our own table; `None` if it does not fit.
    fn from_dfa(dfa: &DFA, start: StateID) -> Option<Self> {
        // Breadth first, so a state is first reached by its shortest input: its depth, the
        // length of the keyword prefix it stands for.
        let mut depth = std::collections::HashMap::from([(start, 0usize)]);
        let mut order = vec![start];
        let mut i = 0;
        while i < order.len() {
            let d = depth[&order[i]];
            for b in 0..=255u8 {
                let next = dfa.next_state(Anchored::No, order[i], b);
                depth.entry(next).or_insert_with(|| {
                    order.push(next);
                    d + 1
                });
            }
            i += 1;
        }
        // Matching states first, so that their keywords are indexed by state.
        order.sort_by_key(|s| !dfa.is_match(*s));
        let matching = order.iter().filter(|s| dfa.is_match(**s)).count();
        let index: std::collections::HashMap<StateID, usize> =
            order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        // Bytes that lead every state to the same place share a class.
        let mut classes = [0u8; 256];
        let mut signatures: Vec<Vec<usize>> = vec![];
        for b in 0..=255u8 {
            let sig: Vec<usize> = order
                .iter()
                .map(|s| index[&dfa.next_state(Anchored::No, *s, b)])
                .collect();
            let class = signatures
                .iter()
                .position(|x| *x == sig)
                .unwrap_or_else(|| {
                    signatures.push(sig);
                    signatures.len() - 1
                });
            classes[usize::from(b)] = u8::try_from(class).unwrap_or(u8::MAX);
        }
        let stride = signatures.len();
        if order.len() * stride > TABLE {
            return None;
        }
        let mut trans: Box<[u32; TABLE]> = vec![0u32; TABLE].into_boxed_slice().try_into().ok()?;
        for (class, sig) in signatures.iter().enumerate() {
            for (state, next) in sig.iter().enumerate() {
                trans[state * stride + class] = premultiplied(*next, stride, matching);
            }
        }
        let matches = order[..matching]
            .iter()
            .map(|s| {
                (0..dfa.match_len(*s))
                    .map(|m| {
                        let keyword = dfa.match_pattern(*s, m);
                        (keyword.as_usize(), dfa.pattern_len(keyword))
                    })
                    .collect()
            })
            .collect();
        Some(Self {
            depth: order.iter().map(|s| depth[s]).collect(),
            classes,
            stride,
            trans,
            matches,
            start: premultiplied(index[&start], stride, matching),
            longest: dfa.max_pattern_len(),
        })
    }

    /// A state's index, for the per-state vectors.
    fn index(&self, state: u32) -> usize {
        (state & !MATCHED) as usize / self.stride
    }

    #[inline(always)]
    fn next(&self, state: u32, byte: u8) -> u32 {
        self.trans[(state as usize + usize::from(self.classes[usize::from(byte)])) & (TABLE - 1)]
    }

    /// Every occurrence in `text`, ordered by start, into `hits` (cleared first).
    pub fn find_all(&self, text: &[u8], hits: &mut Vec<Hit>) {
        hits.clear();
        let overlap = self.longest.saturating_sub(1);
        let piece = text.len() / LANES;
        if piece < MIN_PIECE.max(overlap) {
            let whole = Lane {
                owned: (0, text.len()),
                read_end: text.len(),
            };
            self.finish(text, whole, 0, self.start, hits);
            hits.sort_unstable();
            return;
        }
        let lanes: [Lane; LANES] = std::array::from_fn(|i| {
            let end = if i + 1 == LANES {
                text.len()
            } else {
                (i + 1) * piece
            };
            Lane {
                owned: (i * piece, end),
                read_end: (end + overlap).min(text.len()),
            }
        });
        // In lockstep, eight bytes a lane at a time, over the first `piece` bytes of every
        // lane. The fast loop only notes, per lane, whether it passed through a matching state;
        // a lane's block that did is walked again, byte by byte, to report what matched.
        let block = |lane: usize, at: usize| {
            let from = lane * piece + at;
            let mut word = [0u8; 8];
            word.copy_from_slice(&text[from..from + 8]);
            u64::from_le_bytes(word)
        };
        let mut s = [self.start; LANES];
        let blocks = piece / 8;
        for at in (0..blocks * 8).step_by(8) {
            let words: [u64; LANES] = std::array::from_fn(|i| block(i, at));
            let before = s;
            let mut seen = [0; LANES];
            for shift in (0..64).step_by(8) {
                for i in 0..LANES {
                    s[i] = self.next(s[i], (words[i] >> shift) as u8);
                    seen[i] |= s[i];
                }
            }
            if seen.iter().fold(0, |all, s| all | s) & MATCHED != 0 {
                for (i, lane) in lanes.iter().enumerate() {
                    if seen[i] & MATCHED == 0 {
                        continue;
                    }
                    let from = lane.owned.0 + at;
                    let again = Lane {
                        read_end: from + 8,
                        ..*lane
                    };
                    self.finish(text, again, from, before[i], hits);
                }
            }
        }
        // Then each lane alone over what is left of its piece, and its overlap.
        for (lane, state) in lanes.into_iter().zip(s) {
            self.finish(text, lane, lane.owned.0 + blocks * 8, state, hits);
        }
        hits.sort_unstable();
    }

    /// Walks `lane` from `at` towards its read end, starting in `state`. Past its own piece it
    /// stops as soon as no keyword in progress started inside the piece.
    fn finish(&self, text: &[u8], lane: Lane, at: usize, mut state: u32, hits: &mut Vec<Hit>) {
        for (i, &b) in text[at..lane.read_end].iter().enumerate() {
            let end = at + i;
            if end >= lane.owned.1 && end - self.depth[self.index(state)] >= lane.owned.1 {
                break;
            }
            state = self.next(state, b);
            self.report(state, end + 1, lane, hits);
        }
    }

    /// Records the keywords that `state` has just matched, ending at `end`, that start in the
    /// lane's own piece.
    #[inline(always)]
    fn report(&self, state: u32, end: usize, lane: Lane, hits: &mut Vec<Hit>) {
        if state & MATCHED == 0 {
            return;
        }
        for &(keyword, len) in &self.matches[self.index(state)] {
            let start = end - len;
            if (lane.owned.0..lane.owned.1).contains(&start) {
                hits.push(Hit { start, keyword });
            }
        }
    }
}

/// A state as stored in the table: its index times the row length, flagged [`MATCHED`] if it
/// is one of the first `matching` states. The caller checks that it fits below `TABLE`.
fn premultiplied(index: usize, stride: usize, matching: usize) -> u32 {
    let id = u32::try_from(index * stride).unwrap_or(u32::MAX);
    if index < matching {
        id | MATCHED
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every occurrence, by brute force.
    fn naive(patterns: &[String], text: &[u8]) -> Vec<Hit> {
        let mut out = vec![];
        for start in 0..text.len() {
            for (keyword, p) in patterns.iter().enumerate() {
                if text[start..].len() >= p.len()
                    && text[start..start + p.len()].eq_ignore_ascii_case(p.as_bytes())
                {
                    out.push(Hit { start, keyword });
                }
            }
        }
        out.sort_unstable();
        out
    }

    fn patterns(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn finds_overlapping_keywords_at_every_lane_seam() {
        let pats = patterns(&["secret", "client_secret", "sk", "ghp_", "-----begin", "@"]);
        let kw = Keywords::new(&pats).expect("keywords compile");
        let mut hits = vec![];
        // Keywords planted at every offset near the seams of every text length, so some
        // straddle a seam, start on one, or end on one.
        for len in [0, 1, 9, 63, 255, 256, 257, 300, 1031] {
            for shift in 0..16 {
                let mut text = vec![b'x'; len];
                let piece = len / LANES;
                for seam in 1..LANES {
                    let at = (seam * piece).saturating_sub(shift);
                    let word = pats[(seam + shift) % pats.len()].as_bytes();
                    if at + word.len() <= len {
                        text[at..at + word.len()].copy_from_slice(word);
                    }
                }
                if len > 20 {
                    text[len - 13..].copy_from_slice(b"CLIENT_SECRET");
                }
                kw.find_all(&text, &mut hits);
                assert_eq!(hits, naive(&pats, &text), "len {len} shift {shift}");
            }
        }
    }

    #[test]
    fn matches_brute_force_on_pseudo_random_text() {
        let pats = patterns(&["ab", "abc", "bca", "cab", "aaaa", "c"]);
        let kw = Keywords::new(&pats).expect("keywords compile");
        let mut hits = vec![];
        let mut seed = 7u64;
        for len in (0..2000).step_by(97) {
            let text: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    b"abcABx"[(seed >> 33) as usize % 6]
                })
                .collect();
            kw.find_all(&text, &mut hits);
            assert_eq!(hits, naive(&pats, &text), "len {len}");
        }
    }
}
