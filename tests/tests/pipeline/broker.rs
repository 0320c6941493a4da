//! Resuming inside a record batch. tansu 0.6 answers a fetch from an offset inside a batch
//! with the later batches only; consumers fetch `kafka.fetch_lookback` records earlier and
//! drop what lies before their start, so nothing is skipped.

use sightline_kafka::{AtLeastOnceConsumer, Message, Producer, Topic};
use sightline_testkit::{unique, TestEnv};

/// 200 records produced at once: librdkafka writes them in one or a few batches.
async fn one_batch(env: &TestEnv) -> String {
    let producer = Producer::new(&env.kafka).expect("producer");
    let topic = env.topic(Topic::Grouped);
    let acks: Vec<_> = (0..200)
        .map(|i| {
            producer
                .enqueue(&topic, b"k", format!("r{i}").as_bytes())
                .expect("enqueue")
        })
        .collect();
    for a in acks {
        a.await.expect("ack");
    }
    topic
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_from_inside_a_batch_returns_the_rest_of_it() {
    let env = TestEnv::new(1).await.expect("env");
    let topic = one_batch(&env).await;
    for from in [1i64, 50, 150] {
        let (k, t) = (env.kafka.clone(), topic.clone());
        let got = tokio::task::spawn_blocking(move || {
            sightline_kafka::read_back(&k, &t, 0, from, Some(200), 1_000)
        })
        .await
        .expect("reader")
        .expect("read");
        let offsets: Vec<i64> = got.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, (from..200).collect::<Vec<_>>(), "from {from}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resuming_from_a_commit_inside_a_batch_loses_nothing() {
    let env = TestEnv::new(1).await.expect("env");
    let topic = one_batch(&env).await;
    let group = unique("resume");
    {
        let consumer =
            AtLeastOnceConsumer::subscribe(&env.kafka, &group, &[&topic]).expect("consumer");
        for expected in 0..50 {
            let m = consumer.recv().await.expect("record");
            assert_eq!(m.offset(), expected);
            consumer.store(&topic, 0, m.offset(), None).expect("store");
        }
        consumer.commit_now().expect("commit");
    }
    let consumer = AtLeastOnceConsumer::subscribe(&env.kafka, &group, &[&topic]).expect("consumer");
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), consumer.recv())
        .await
        .expect("a record after the commit")
        .expect("record");
    assert_eq!(
        first.offset(),
        50,
        "resumes at the commit, not at the next batch"
    );
}
