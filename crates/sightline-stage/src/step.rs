use std::marker::PhantomData;

use async_trait::async_trait;
use sightline_events::{AvroRecord, Codec};

/// Where an input came from: its topic (an index into the stage's input topics), partition
/// and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct At {
    /// Index of the input topic in the stage's configuration.
    pub topic: usize,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// How handling one input failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The input itself is wrong: it goes to the DLQ with this reason and the stage goes on.
    /// The reason must never contain the input's text.
    BadInput(String),
    /// Something outside is unavailable: back off and retry, honouring shutdown.
    Transient(String),
    /// Retrying cannot help: the stage stops with this message for the operator.
    Fatal(String),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::BadInput(m) => write!(f, "bad input: {m}"),
            Fault::Transient(m) => write!(f, "transient: {m}"),
            Fault::Fatal(m) => write!(f, "fatal: {m}"),
        }
    }
}

/// A processor's logic: pure and synchronous, no I/O and no clock reads.
pub trait Step: Send + 'static {
    /// The prepared input.
    type In: Send + 'static;
    /// What it emits.
    type Out: Send + 'static;
    /// Whether the step keeps state that must be rebuilt when partitions move.
    const STATEFUL: bool = false;

    /// Whether the step keeps one state per partition number across all its input topics
    /// (co-partitioned inputs). Then a partition number is kept on a rebalance only if all of
    /// its topics are, and otherwise every topic of it is revoked and rebuilt.
    const SHARES_PARTITIONS: bool = false;

    /// Handles one input at `at`; appends outputs to `out`. `written_ms` is when the record
    /// was written to its topic (the broker's timestamp; the wall clock for a record without
    /// one), so a replay of the record sees the same time.
    fn apply(
        &mut self,
        input: Self::In,
        at: At,
        written_ms: i64,
        out: &mut Vec<Self::Out>,
    ) -> Result<(), Fault>;

    /// Called on an interval: expire windows, refill limits.
    fn tick(&mut self, _now_ms: i64, _out: &mut Vec<Self::Out>) {}

    /// The stage lost these partitions: drop their state.
    fn revoke(&mut self, _lost: &[(usize, i32)]) {}

    /// The lowest input offset of this partition the state still depends on; `None` when it
    /// holds nothing from it. Replaying from there rebuilds the state.
    fn retained_from(&self, _topic: usize, _partition: i32) -> Option<i64> {
        None
    }

    /// Whether input `topic` is the stage's own output read back (a changelog). Its partitions
    /// are rebuilt up to their end, not to the commit, so the state holds every output written
    /// before a crash, including those whose inputs are handled again.
    fn rebuilds_to_end(&self, _topic: usize) -> bool {
        false
    }

    /// Entries held in state, for the `state_size` gauge.
    fn state_size(&self) -> usize {
        0
    }
}

/// Turns a record's bytes into a step's input. It may do I/O (a schema registry lookup, a
/// judge call); it must not touch the step's state.
#[async_trait]
pub trait Prepare: Send + Sync + 'static {
    /// The step input it produces.
    type Out: Send + 'static;

    /// Prepares the record read from input topic `topic`. `rebuilding` is true while state is
    /// being rebuilt from already-handled records: ask nothing outside then.
    async fn prepare(
        &self,
        topic: usize,
        bytes: &[u8],
        rebuilding: bool,
    ) -> Result<Self::Out, Fault>;

    /// The bytes the DLQ keeps of a record of input `topic` that was refused: the original by
    /// default. A processor whose input may carry text it redacts (people's notes) returns
    /// the redacted record instead, so a refusal does not copy a secret.
    async fn dead_letter_payload(&self, _topic: usize, bytes: &[u8]) -> Vec<u8> {
        bytes.to_vec()
    }
}

/// The plain [`Prepare`]: decodes an Avro record of type `T` from any input topic.
#[derive(Debug, Clone)]
pub struct AvroInput<T> {
    codec: Codec,
    _t: PhantomData<fn() -> T>,
}

impl<T> AvroInput<T> {
    /// Decodes with `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            _t: PhantomData,
        }
    }
}

/// Decodes a record, classifying the failure: a registry that cannot be reached is
/// transient; bytes that do not decode are bad input.
pub async fn decode<T: AvroRecord>(codec: &Codec, bytes: &[u8]) -> Result<T, Fault> {
    codec.decode::<T>(bytes).await.map_err(|e| {
        if e.is_retryable() {
            Fault::Transient(e.to_string())
        } else {
            Fault::BadInput(e.to_string())
        }
    })
}

#[async_trait]
impl<T: AvroRecord + Send + 'static> Prepare for AvroInput<T> {
    type Out = T;

    async fn prepare(&self, _topic: usize, bytes: &[u8], _rebuilding: bool) -> Result<T, Fault> {
        decode(&self.codec, bytes).await
    }
}
