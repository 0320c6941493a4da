//! Keyset pagination: a page ends with an opaque cursor holding the sort key of its last
//! row, and the next page asks for rows strictly after it. The sort key is unique and never
//! changes, so rows inserted meanwhile land before the cursor or after it, and no row is
//! skipped or repeated. Pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The most rows a page may ask for.
pub const MAX_PAGE: u32 = 500;

/// The sort key of a row: a time in milliseconds and a unique id, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Milliseconds.
    pub ms: i64,
    /// Unique id.
    pub id: String,
}

/// A cursor that does not decode: the request is bad (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is not one this server issued; start again without it")]
pub struct BadCursor;

impl Cursor {
    /// The opaque form sent to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads what [`encode`](Self::encode) wrote.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        if text.len() > 1024 {
            return Err(BadCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        serde_json::from_slice(&bytes).map_err(|_| BadCursor)
    }

    /// `(ms, id) < (cursor)` for a newest-first order on `ms_col, id_col`.
    pub fn before(&self, ms_col: &str, id_col: &str) -> crate::scope::Sql {
        let mut sql = crate::scope::Sql::default();
        sql.push(
            &format!("({ms_col} < ? OR ({ms_col} = ? AND {id_col} < ?))"),
            [self.ms.into(), self.ms.into(), self.id.clone().into()],
        );
        sql
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// A page from `limit + 1` fetched rows: the extra row only says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> Cursor) -> Self {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = if more {
            rows.last().map(|r| key(r).encode())
        } else {
            None
        };
        Self { items: rows, next }
    }
}

/// The rows a request asks for: its `limit`, within 1..=[`MAX_PAGE`], else `default`.
pub fn limit(asked: Option<u32>, default: u32) -> u32 {
    asked.unwrap_or(default).clamp(1, MAX_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let c = Cursor {
            ms: 1_764_000_000_000,
            id: "inc-1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        assert_eq!(Cursor::decode("not a cursor"), Err(BadCursor));
        assert_eq!(Cursor::decode(&"A".repeat(5000)), Err(BadCursor));
    }

    #[test]
    fn pages_walk_a_list_without_skipping_or_repeating_while_rows_arrive() {
        // The list as the database sorts it (newest first), with rows arriving between pages.
        let mut rows: Vec<(i64, String)> = (0..25).map(|i| (i / 2, format!("r{i:02}"))).collect();
        let sorted = |rows: &Vec<(i64, String)>| {
            let mut r = rows.clone();
            r.sort_by(|a, b| b.cmp(a));
            r
        };
        let mut seen = vec![];
        let mut cursor: Option<Cursor> = None;
        for round in 0.. {
            let fetched: Vec<(i64, String)> = sorted(&rows)
                .into_iter()
                .filter(|(ms, id)| {
                    cursor
                        .as_ref()
                        .is_none_or(|c| *ms < c.ms || (*ms == c.ms && *id < c.id))
                })
                .take(5)
                .collect();
            let page = Page::from_rows(fetched, 4, |(ms, id)| Cursor {
                ms: *ms,
                id: id.clone(),
            });
            seen.extend(page.items.iter().cloned());
            rows.push((100 + round, format!("new{round}")));
            match page.next {
                Some(n) => cursor = Some(Cursor::decode(&n).expect("cursor")),
                None => break,
            }
        }
        let mut expected: Vec<(i64, String)> =
            (0..25).map(|i| (i / 2, format!("r{i:02}"))).collect();
        expected.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, expected);
    }
}
