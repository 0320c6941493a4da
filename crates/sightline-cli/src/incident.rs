//! `sightline incident …`: lists incidents from `sightline.incidents.v1` and drives their
//! workflow by sending commands to `sightline.incident-commands.v1`.
//!
//! The incidents topic is read whole (it holds incident changes, not calls) and folded: each
//! incident is its latest event. A command is checked against the workflow here first, so a
//! mistake is refused at once; the incidents processor checks it again and carries it out,
//! and the command waits (`--wait`) until the resulting event is on the incidents topic.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use sightline_events::{
    CommandAction, IncidentCommand, IncidentEvent, IncidentEventType, IncidentStatus,
};
use sightline_incidents::registry::{carry_out, Source};
use sightline_kafka::{Producer, Topic, TopicNames};

use crate::CliConfig;

/// `sightline incident …`
#[derive(Debug, clap::Subcommand)]
pub enum IncidentAction {
    /// List incidents (open and investigating unless --status says otherwise).
    List(ListArgs),
    /// Show one incident with its history and linked calls.
    Show {
        /// Incident id (or a unique prefix of at least 8 characters).
        id: String,
        /// Print the events as JSON lines instead.
        #[arg(long)]
        json: bool,
    },
    /// OPEN → INVESTIGATING.
    Ack(Act),
    /// OPEN or INVESTIGATING → RESOLVED.
    Resolve(Act),
    /// OPEN or INVESTIGATING → DISMISSED (not a real problem).
    Dismiss(Act),
    /// Assign an incident that is not closed.
    Assign {
        #[command(flatten)]
        act: Act,
        /// Who takes it.
        assignee: String,
    },
    /// Add a note (it must not hold secrets or personal data; notes are checked).
    Note {
        #[command(flatten)]
        act: Act,
        /// The note.
        text: String,
    },
}

/// `sightline incident list` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// open, investigating, resolved, dismissed, active (open or investigating) or all.
    #[arg(long, default_value = "active")]
    pub status: String,
    /// Only this tenant's incidents.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only this user's incidents.
    #[arg(long)]
    pub user: Option<String>,
    /// One JSON line per incident (its latest event) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Act {
    /// Incident id (or a unique prefix of at least 8 characters).
    pub id: String,
    /// Who is acting; defaults to $SIGHTLINE_ACTOR, then $USER.
    #[arg(long)]
    pub actor: Option<String>,
    /// How long to wait for the incidents processor to carry the command out (0: do not).
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub wait: Duration,
}

/// An incident as the topic tells it: its events in order, and the partition they are on.
#[derive(Debug, Clone)]
pub struct Folded {
    /// Events by sequence number, each once.
    pub events: BTreeMap<i64, IncidentEvent>,
    /// Partition of the incidents topic.
    pub partition: i32,
}

impl Folded {
    /// The latest event: the incident's state.
    pub fn current(&self) -> &IncidentEvent {
        self.events
            .values()
            .next_back()
            .expect("a folded incident has at least one event")
    }
}

/// Reads the incidents topic and folds it by incident; also returns where each partition ends.
pub async fn read_incidents(
    config: &CliConfig,
) -> anyhow::Result<(BTreeMap<String, Folded>, BTreeMap<i32, i64>)> {
    let codec = config.schema_registry.codec()?;
    let topic = TopicNames::from(&config.topics).name(Topic::Incidents);
    let kafka = config.kafka.clone();
    let t = topic.clone();
    let records = tokio::task::spawn_blocking(move || sightline_kafka::read_topic(&kafka, &t))
        .await?
        .map_err(|e| {
            anyhow::anyhow!("reading {topic} from {} failed: {e}", config.kafka.brokers)
        })?;
    let mut incidents: BTreeMap<String, Folded> = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for (partition, r) in records {
        ends.insert(partition, r.offset + 1);
        let Ok(event) = codec
            .decode::<IncidentEvent>(r.payload.as_deref().unwrap_or_default())
            .await
        else {
            eprintln!(
                "skipping {topic}/{partition} offset {}: not an incident event",
                r.offset
            );
            continue;
        };
        incidents
            .entry(event.incident_id.clone())
            .or_insert_with(|| Folded {
                events: BTreeMap::new(),
                partition,
            })
            .events
            .insert(event.seq, event);
    }
    Ok((incidents, ends))
}

fn find<'a>(incidents: &'a BTreeMap<String, Folded>, id: &str) -> anyhow::Result<&'a Folded> {
    if let Some(f) = incidents.get(id) {
        return Ok(f);
    }
    let matches: Vec<&String> = if id.len() >= 8 {
        incidents.keys().filter(|k| k.starts_with(id)).collect()
    } else {
        vec![]
    };
    match matches.as_slice() {
        [one] => Ok(&incidents[*one]),
        [] => anyhow::bail!("no incident {id} (see `sightline incident list --status all`)"),
        _ => anyhow::bail!(
            "{id} matches {} incidents; give more of the id",
            matches.len()
        ),
    }
}

fn time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn wanted(status: &str, s: IncidentStatus) -> anyhow::Result<bool> {
    Ok(match status.to_ascii_lowercase().as_str() {
        "all" => true,
        "active" => !s.is_closed(),
        "open" => s == IncidentStatus::Open,
        "investigating" => s == IncidentStatus::Investigating,
        "resolved" => s == IncidentStatus::Resolved,
        "dismissed" => s == IncidentStatus::Dismissed,
        other => anyhow::bail!(
            "--status {other}: use open, investigating, resolved, dismissed, active or all"
        ),
    })
}

/// Runs `sightline incident …`, writing to `out`.
pub async fn run(
    config: &CliConfig,
    action: &IncidentAction,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let (incidents, ends) = read_incidents(config).await?;
    match action {
        IncidentAction::List(args) => {
            let mut shown = 0;
            if !args.json {
                writeln!(
                    out,
                    "{:<36}  {:<8}  {:<11}  {:<13}  {:>5}  {:<20}  TITLE",
                    "ID", "SEVERITY", "CATEGORY", "STATUS", "OCC", "LAST SEEN"
                )?;
            }
            let mut rows: Vec<&IncidentEvent> = incidents.values().map(Folded::current).collect();
            rows.sort_by_key(|e| std::cmp::Reverse(e.last_seen_ms));
            for e in rows {
                if !wanted(&args.status, e.status)?
                    || args.tenant.as_ref().is_some_and(|t| *t != e.tenant_id)
                    || args
                        .user
                        .as_ref()
                        .is_some_and(|u| Some(u) != e.user_id.as_ref())
                {
                    continue;
                }
                shown += 1;
                if args.json {
                    writeln!(out, "{}", serde_json::to_string(e)?)?;
                } else {
                    writeln!(
                        out,
                        "{:<36}  {:<8}  {:<11}  {:<13}  {:>5}  {:<20}  {}",
                        e.incident_id,
                        e.severity.as_str(),
                        e.category.as_str(),
                        e.status.as_str(),
                        e.occurrences,
                        time(e.last_seen_ms),
                        e.title
                    )?;
                }
            }
            eprintln!("{shown} of {} incidents", incidents.len());
        }
        IncidentAction::Show { id, json } => {
            let folded = find(&incidents, id)?;
            if *json {
                for e in folded.events.values() {
                    writeln!(out, "{}", serde_json::to_string(e)?)?;
                }
                return Ok(());
            }
            let e = folded.current();
            writeln!(out, "{}  {}", e.incident_id, e.title)?;
            writeln!(
                out,
                "  severity {}  category {}  status {}  rule {}",
                e.severity.as_str(),
                e.category.as_str(),
                e.status.as_str(),
                e.rule
            )?;
            writeln!(
                out,
                "  tenant {}  user {}  assignee {}",
                e.tenant_id,
                e.user_id.as_deref().unwrap_or("-"),
                e.assignee.as_deref().unwrap_or("-")
            )?;
            writeln!(
                out,
                "  occurrences {}  first seen {}  last seen {}",
                e.occurrences,
                time(e.first_seen_ms),
                time(e.last_seen_ms)
            )?;
            writeln!(out, "  {}", e.description)?;
            writeln!(out, "history:")?;
            for h in folded.events.values() {
                let detail = match h.event_type {
                    IncidentEventType::NoteAdded => {
                        format!("note: {}", h.note.as_deref().unwrap_or_default())
                    }
                    IncidentEventType::StatusChanged => format!(
                        "{} → {}",
                        h.previous_status.map_or("?", IncidentStatus::as_str),
                        h.status.as_str()
                    ),
                    IncidentEventType::Assigned => {
                        format!("assigned to {}", h.assignee.as_deref().unwrap_or("-"))
                    }
                    IncidentEventType::Opened | IncidentEventType::Occurred => {
                        format!("occurrences {}", h.occurrences)
                    }
                };
                writeln!(
                    out,
                    "  #{:<3} {}  {:<14}  by {:<20}  {detail}",
                    h.seq,
                    time(h.at_ms),
                    h.event_type.as_str(),
                    h.actor
                )?;
            }
            writeln!(out, "linked calls:")?;
            for h in folded.events.values() {
                for l in &h.links {
                    writeln!(
                        out,
                        "  {}  {:<7}  {}",
                        l.call_id,
                        l.reason.as_str(),
                        time(l.occurred_at_ms)
                    )?;
                }
            }
        }
        IncidentAction::Ack(act) => {
            command(
                config,
                &incidents,
                &ends,
                act,
                Change::to(CommandAction::Ack),
                out,
            )
            .await?
        }
        IncidentAction::Resolve(act) => {
            command(
                config,
                &incidents,
                &ends,
                act,
                Change::to(CommandAction::Resolve),
                out,
            )
            .await?
        }
        IncidentAction::Dismiss(act) => {
            command(
                config,
                &incidents,
                &ends,
                act,
                Change::to(CommandAction::Dismiss),
                out,
            )
            .await?
        }
        IncidentAction::Assign { act, assignee } => {
            let change = Change {
                assignee: Some(assignee.clone()),
                ..Change::to(CommandAction::Assign)
            };
            command(config, &incidents, &ends, act, change, out).await?;
        }
        IncidentAction::Note { act, text } => {
            refuse_sensitive(text)?;
            let change = Change {
                note: Some(text.clone()),
                ..Change::to(CommandAction::Note)
            };
            command(config, &incidents, &ends, act, change, out).await?;
        }
    }
    Ok(())
}

/// Notes land on the commands and incidents topics: refuse one the detection engine flags.
fn refuse_sensitive(note: &str) -> anyhow::Result<()> {
    let policy = sightline_policy::Policy::builtin_default();
    let findings = policy.scan(note, "default", b"sightline-cli-note-check");
    if findings.is_empty() {
        return Ok(());
    }
    let mut rules: Vec<&str> = findings.iter().map(|f| &*f.rule_id).collect();
    rules.sort_unstable();
    rules.dedup();
    anyhow::bail!(
        "the note looks like it holds a secret or personal data ({}); describe it without the value",
        rules.join(", ")
    )
}

fn actor(act: &Act) -> anyhow::Result<String> {
    act.actor
        .clone()
        .or_else(|| std::env::var("SIGHTLINE_ACTOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow::anyhow!("say who is acting: --actor, or set SIGHTLINE_ACTOR"))
}

/// What a command asks: the action and, for ASSIGN and NOTE, its argument.
struct Change {
    action: CommandAction,
    assignee: Option<String>,
    note: Option<String>,
}

impl Change {
    fn to(action: CommandAction) -> Self {
        Self {
            action,
            assignee: None,
            note: None,
        }
    }
}

async fn command(
    config: &CliConfig,
    incidents: &BTreeMap<String, Folded>,
    ends: &BTreeMap<i32, i64>,
    act: &Act,
    change: Change,
    out: &mut (impl Write + Send),
) -> anyhow::Result<()> {
    let Change {
        action,
        assignee,
        note,
    } = change;
    let folded = find(incidents, &act.id)?;
    let current = folded.current();
    let issued_at_ms = sightline_events::now_ms();
    let command = IncidentCommand {
        command_id: uuid::Uuid::new_v4().to_string(),
        incident_id: current.incident_id.clone(),
        partition_key: current.partition_key.clone(),
        action,
        actor: actor(act)?,
        assignee,
        note,
        issued_at_ms,
    };
    // The workflow, checked here as the processor will check it.
    let here = Source {
        topic: "",
        partition: 0,
        offset: 0,
    };
    carry_out(current, &command, here).map_err(|reason| anyhow::anyhow!("{reason}"))?;
    let names = TopicNames::from(&config.topics);
    let topic = names.name(Topic::IncidentCommands);
    let codec = config.schema_registry.codec()?;
    let bytes = codec.encode(&topic, &command).await?;
    let producer = Producer::new(&config.kafka)?;
    producer
        .send(&topic, command.partition_key.as_bytes(), &bytes, None)
        .await
        .map_err(|e| anyhow::anyhow!("sending the command to {topic} failed: {e}"))?;
    eprintln!(
        "sent {} for incident {} (command {})",
        action.as_str(),
        current.incident_id,
        command.command_id
    );
    if act.wait.is_zero() {
        return Ok(());
    }
    let from = ends.get(&folded.partition).copied().unwrap_or(0);
    let deadline = tokio::time::Instant::now() + act.wait;
    let incidents_topic = names.name(Topic::Incidents);
    loop {
        let (kafka, t, p) = (
            config.kafka.clone(),
            incidents_topic.clone(),
            folded.partition,
        );
        let records = tokio::task::spawn_blocking(move || {
            sightline_kafka::read_back(&kafka, &t, p, from, None, usize::MAX)
        })
        .await??;
        for r in records {
            let Ok(e) = codec
                .decode::<IncidentEvent>(r.payload.as_deref().unwrap_or_default())
                .await
            else {
                continue;
            };
            if e.command_id.as_deref() == Some(command.command_id.as_str()) {
                writeln!(
                    out,
                    "{}: {} {} (event #{}, by {}; status {})",
                    e.incident_id,
                    e.event_type.as_str(),
                    e.previous_status
                        .map(|p| format!("{} → {}", p.as_str(), e.status.as_str()))
                        .unwrap_or_default(),
                    e.seq,
                    e.actor,
                    e.status.as_str()
                )?;
                return Ok(());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "the command was sent but not carried out within {}: is sightline-incidents running? If it refused the command, the reason is on the DLQ",
                humantime::format_duration(act.wait)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(ids: &[&str]) -> BTreeMap<String, Folded> {
        ids.iter()
            .map(|id| {
                (
                    (*id).to_string(),
                    Folded {
                        events: BTreeMap::new(),
                        partition: 0,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn an_incident_is_found_by_its_id_or_a_unique_prefix_of_eight() {
        let all = folded(&["fe232fcc-aaaa", "fe232fcc-bbbb", "0123abcd-cccc"]);
        assert!(find(&all, "0123abcd-cccc").is_ok());
        assert!(find(&all, "0123abcd").is_ok(), "unique prefix");
        assert!(find(&all, "0123abc").is_err(), "too short to guess");
        let ambiguous = find(&all, "fe232fcc").expect_err("two match");
        assert!(ambiguous.to_string().contains("matches 2"), "{ambiguous}");
        let missing = find(&all, "ffffffff").expect_err("none");
        assert!(missing.to_string().contains("--status all"), "{missing}");
    }

    #[test]
    fn statuses_filter_as_documented_and_a_typo_is_an_error() {
        assert!(wanted("active", IncidentStatus::Investigating).expect("ok"));
        assert!(!wanted("active", IncidentStatus::Resolved).expect("ok"));
        assert!(wanted("ALL", IncidentStatus::Dismissed).expect("ok"));
        assert!(wanted("resolved", IncidentStatus::Resolved).expect("ok"));
        assert!(!wanted("open", IncidentStatus::Investigating).expect("ok"));
        assert!(wanted("opne", IncidentStatus::Open).is_err());
    }

    #[test]
    fn a_note_holding_a_key_is_refused_without_repeating_it() {
        let err =
            refuse_sensitive("aws_access_key_id = AKIAQYLPMN5HHHFPZAM2").expect_err("refused");
        assert!(!err.to_string().contains("AKIAQYLPMN5HHHFPZAM2"));
        assert!(refuse_sensitive("rotated the key in IAM").is_ok());
    }
}
