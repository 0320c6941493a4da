use super::*;
use proptest::prelude::*;
use sightline_events::Provider;

fn settings() -> Settings {
    Settings {
        window_ms: 5_000,
        tenant_windows: HashMap::from([("b".to_string(), 2_000)]),
        response_horizon_ms: 20_000,
        max_entries_per_partition: 100_000,
    }
}

fn request(n: usize, tenant: &str, user: &str, t: i64) -> LlmEvent {
    let mut e = LlmEvent::request(tenant, user, Provider::Anthropic, "POST /v1/messages");
    e.call_id = format!("call-{n}");
    e.event_id = format!("req-{n}");
    e.occurred_at_ms = t;
    e
}

fn response_to(req: &LlmEvent, t: i64) -> LlmEvent {
    let mut e = req.clone();
    e.kind = EventKind::Response;
    e.event_id = format!("resp-{}", req.call_id);
    e.occurred_at_ms = t;
    e
}

const P: (usize, i32) = (0, 0);

#[test]
fn identical_requests_within_the_window_are_one_logical_request() {
    let mut w = Windows::new(settings());
    let a = request(1, "a", "ada", 1_000);
    let b = request(2, "a", "ada", 1_010);
    let c = request(3, "a", "ada", 1_020);
    let ga = w.group(P, 0, &a, Some("h"));
    let gb = w.group(P, 1, &b, Some("h"));
    let gc = w.group(P, 2, &c, Some("h"));
    assert_eq!(ga.role, Some(ResampleRole::Primary));
    assert_eq!((gb.role, gb.index), (Some(ResampleRole::Resample), Some(1)));
    assert_eq!((gc.role, gc.index), (Some(ResampleRole::Resample), Some(2)));
    assert!(ga.logical_id == "call-1" && gb.logical_id == "call-1" && gc.logical_id == "call-1");
    // Each response inherits its call's grouping.
    let rb = w.group(P, 3, &response_to(&b, 3_000), None);
    assert_eq!(rb, gb);
}

#[test]
fn another_user_tenant_or_text_is_another_request() {
    let mut w = Windows::new(settings());
    let first = w.group(P, 0, &request(1, "a", "ada", 0), Some("h"));
    for (n, (tenant, user, hash)) in [("a", "bob", "h"), ("c", "ada", "h"), ("a", "ada", "other")]
        .into_iter()
        .enumerate()
    {
        let g = w.group(
            P,
            n as i64 + 1,
            &request(n + 2, tenant, user, 10),
            Some(hash),
        );
        assert_eq!(
            g.role,
            Some(ResampleRole::Primary),
            "{tenant}/{user}/{hash}"
        );
        assert_ne!(g.logical_id, first.logical_id);
    }
}

#[test]
fn windows_are_in_event_time_and_per_tenant() {
    let mut w = Windows::new(settings());
    // Arrives second but happened first: still within the window, so it joins.
    w.group(P, 0, &request(1, "a", "ada", 10_000), Some("h"));
    let early = w.group(P, 1, &request(2, "a", "ada", 6_000), Some("h"));
    assert_eq!(early.role, Some(ResampleRole::Resample));
    // 5 s after the first is outside the default window.
    let later = w.group(P, 2, &request(3, "a", "ada", 15_000), Some("h"));
    assert_eq!(later.role, Some(ResampleRole::Primary));
    // Tenant b has a 2 s window.
    w.group(P, 3, &request(4, "b", "ada", 20_000), Some("h"));
    let b = w.group(P, 4, &request(5, "b", "ada", 22_500), Some("h"));
    assert_eq!(b.role, Some(ResampleRole::Primary));
}

#[test]
fn requests_without_content_stand_alone() {
    let mut w = Windows::new(settings());
    let a = w.group(P, 0, &request(1, "a", "ada", 0), None);
    let b = w.group(P, 1, &request(2, "a", "ada", 0), None);
    assert_eq!(
        (a.role, b.role),
        (Some(ResampleRole::Primary), Some(ResampleRole::Primary))
    );
    assert_ne!(a.logical_id, b.logical_id);
}

#[test]
fn the_cap_bounds_state_and_counts_evictions() {
    let mut w = Windows::new(Settings {
        max_entries_per_partition: 10,
        ..settings()
    });
    for n in 0..100 {
        w.group(
            P,
            n,
            &request(n as usize, "a", &format!("u{n}"), 1_000),
            Some("h"),
        );
    }
    assert!(w.size() <= 10, "{} entries", w.size());
    assert_eq!(w.evicted, 190, "100 groups and 100 calls, 10 kept");
}

#[test]
fn state_expires_with_the_watermark_and_revoke_forgets_a_partition() {
    let mut w = Windows::new(settings());
    for n in 0..50 {
        w.group(
            P,
            n,
            &request(n as usize, "a", "ada", n * 1_000),
            Some(&format!("h{n}")),
        );
    }
    // Groups live two windows, calls the response horizon (20 s).
    assert!(w.size() <= 11 + 21, "{} entries", w.size());
    assert!(w.retained_from(P).is_some_and(|o| o >= 28));
    w.revoke(&[P]);
    assert_eq!((w.size(), w.retained_from(P)), (0, None));
}

#[test]
fn a_response_whose_call_is_forgotten_names_its_own_call() {
    let mut w = Windows::new(settings());
    let req = request(1, "a", "ada", 0);
    w.group(P, 0, &req, Some("h"));
    w.group(P, 1, &request(2, "a", "bob", 100_000), Some("h"));
    let g = w.group(P, 2, &response_to(&req, 100_001), None);
    assert_eq!((g.logical_id.as_str(), g.role), ("call-1", None));
    assert_eq!(w.unmatched_responses, 1);
}

// ---------------------------------------------------------------------------------------
// Property tests: the grouping against a reference model, and rebuild after a restart.

#[derive(Debug, Clone)]
enum Op {
    Request {
        tenant: u8,
        user: u8,
        hash: Option<u8>,
        advance: i64,
        jitter: i64,
    },
    Response {
        of: usize,
        delay: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..2, 0u8..2, proptest::option::weighted(0.9, 0u8..3), 0i64..3_000, -6_000i64..6_000)
            .prop_map(|(tenant, user, hash, advance, jitter)| Op::Request { tenant, user, hash, advance, jitter }),
        1 => (any::<usize>(), 0i64..30_000).prop_map(|(of, delay)| Op::Response { of, delay }),
    ]
}

/// The events of a script, with each one's content hash.
fn events(ops: &[Op]) -> Vec<(LlmEvent, Option<String>)> {
    let mut clock = 1_000_000i64;
    let mut requests: Vec<LlmEvent> = vec![];
    let mut answered = std::collections::HashSet::new();
    let mut out = vec![];
    for op in ops {
        match op {
            Op::Request {
                tenant,
                user,
                hash,
                advance,
                jitter,
            } => {
                clock += advance;
                let tenant = ["a", "b"][*tenant as usize];
                let user = format!("u{user}");
                let e = request(requests.len(), tenant, &user, clock + jitter);
                requests.push(e.clone());
                out.push((e, hash.map(|h| format!("h{h}"))));
            }
            Op::Response { of, delay } => {
                if requests.is_empty() {
                    continue;
                }
                let i = of % requests.len();
                if answered.insert(i) {
                    let r = response_to(&requests[i], requests[i].occurred_at_ms + delay);
                    out.push((r, None));
                }
            }
        }
    }
    out
}

/// The rules, written as plainly as possible: every group a key ever had, in a list.
fn reference(s: &Settings, events: &[(LlmEvent, Option<String>)]) -> Vec<Grouping> {
    struct G {
        start: i64,
        window: i64,
        logical: String,
        members: i32,
    }
    let mut groups: HashMap<Key, Vec<G>> = HashMap::new();
    let mut calls: HashMap<String, (Grouping, i64)> = HashMap::new();
    let mut watermark = i64::MIN;
    let mut out = vec![];
    for (e, hash) in events {
        watermark = watermark.max(e.occurred_at_ms);
        let t = e.occurred_at_ms;
        let g = match e.kind {
            EventKind::Response => match calls.remove(&e.call_id) {
                Some((g, at)) if at + s.response_horizon_ms > watermark => g,
                _ => Grouping {
                    logical_id: e.call_id.clone(),
                    role: None,
                    index: None,
                },
            },
            EventKind::Request => {
                let g = match hash {
                    None => Grouping {
                        logical_id: e.call_id.clone(),
                        role: Some(ResampleRole::Primary),
                        index: Some(0),
                    },
                    Some(h) => {
                        let list = groups
                            .entry((e.tenant_id.clone(), e.user_id.clone(), h.clone()))
                            .or_default();
                        match list.last_mut() {
                            Some(cur)
                                if cur.start + 2 * cur.window > watermark
                                    && t.abs_diff(cur.start) < cur.window.unsigned_abs() =>
                            {
                                cur.members += 1;
                                Grouping {
                                    logical_id: cur.logical.clone(),
                                    role: Some(ResampleRole::Resample),
                                    index: Some(cur.members - 1),
                                }
                            }
                            _ => {
                                list.push(G {
                                    start: t,
                                    window: s.window(&e.tenant_id),
                                    logical: e.call_id.clone(),
                                    members: 1,
                                });
                                Grouping {
                                    logical_id: e.call_id.clone(),
                                    role: Some(ResampleRole::Primary),
                                    index: Some(0),
                                }
                            }
                        }
                    }
                };
                calls.insert(e.call_id.clone(), (g.clone(), t));
                g
            }
        };
        out.push(g);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn grouping_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..200)) {
        let events = events(&ops);
        let mut w = Windows::new(settings());
        let got: Vec<Grouping> = events
            .iter()
            .enumerate()
            .map(|(i, (e, h))| w.group(P, i as i64, e, h.as_deref()))
            .collect();
        prop_assert_eq!(&got, &reference(&settings(), &events));
        // And the invariants, stated on their own.
        let mut next_index: HashMap<&str, i32> = HashMap::new();
        for ((e, _), g) in events.iter().zip(&got) {
            if e.kind == EventKind::Request {
                let n = next_index.entry(g.logical_id.as_str()).or_default();
                prop_assert_eq!(g.index, Some(*n), "indices run 0, 1, 2… per logical request");
                *n += 1;
                prop_assert_eq!(g.role == Some(ResampleRole::Primary), g.logical_id == e.call_id);
            }
        }
    }

    #[test]
    fn a_restart_that_rebuilds_from_the_retained_offset_changes_nothing(
        ops in proptest::collection::vec(op(), 1..200),
        cut in any::<prop::sample::Index>(),
    ) {
        let events = events(&ops);
        let cut = cut.index(events.len() + 1);
        let mut whole = Windows::new(settings());
        let expected: Vec<Grouping> = events
            .iter()
            .enumerate()
            .map(|(i, (e, h))| whole.group(P, i as i64, e, h.as_deref()))
            .collect();
        // Run up to the cut, then start over: replay from the retained offset, discard.
        let mut before = Windows::new(settings());
        for (i, (e, h)) in events[..cut].iter().enumerate() {
            before.group(P, i as i64, e, h.as_deref());
        }
        let from = before.retained_from(P).map_or(cut, |o| o as usize);
        prop_assert!(from <= cut);
        let mut after = Windows::new(settings());
        for (i, (e, h)) in events.iter().enumerate().take(cut).skip(from) {
            after.group(P, i as i64, e, h.as_deref());
        }
        let resumed: Vec<Grouping> = events
            .iter()
            .enumerate()
            .skip(cut)
            .map(|(i, (e, h))| after.group(P, i as i64, e, h.as_deref()))
            .collect();
        prop_assert_eq!(&resumed[..], &expected[cut..]);
    }
}
