use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use llamacol_api::queue::{Queue, QueueSpec, Queued, Refused};
use llamacol_api::{Batch, ComponentId, Signal};
use llamacol_pipeline::testing::sample_traces;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{Fsync, Options, PersistentQueue};

fn spec(batches: usize, max_bytes: u64) -> QueueSpec {
    QueueSpec {
        owner: ComponentId::parse("otlp").expect("id"),
        batches,
        max_bytes,
    }
}

fn options(segment_size: u64) -> Options {
    Options {
        fsync: Fsync::Never,
        segment_size,
        lock_timeout: std::time::Duration::ZERO,
    }
}

/// A one-span batch whose span is named `id:` followed by `len` bytes of padding.
fn batch(id: u64, len: usize) -> Batch {
    let mut request = sample_traces(1, 1);
    let span = &mut request.resource_spans[0].scope_spans[0].spans[0];
    span.name = format!("{id}:{}", "x".repeat(len));
    let mut batch = Batch::from(request);
    // Through bytes, as a receiver's batch: what the queue writes is what comes back.
    Batch::from_encoded_parts(Signal::Traces, batch.bytes(), 1)
}

fn id_of(queued: &mut Queued) -> u64 {
    let Some(Batch::Traces(traces)) = queued.batch.as_mut() else {
        panic!("a traces batch");
    };
    let request = traces.message().expect("decodes: bytes came back intact");
    let name = &request.resource_spans[0].scope_spans[0].spans[0].name;
    name.split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("id")
}

/// A pop that gives up quickly: one with a batch ready returns at once.
async fn pop_now(q: &PersistentQueue) -> Option<Queued> {
    tokio::time::timeout(Duration::from_millis(10), q.pop())
        .await
        .ok()
        .flatten()
}

fn open(dir: &Path, segment: u64) -> PersistentQueue {
    PersistentQueue::open(dir, options(segment), &spec(100_000, 0)).expect("open")
}

#[tokio::test]
async fn delivered_batches_are_not_sent_again_and_the_rest_are_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(dir.path(), 1 << 20);
    for id in 1..=5 {
        q.push(batch(id, 100), Duration::ZERO).await.expect("push");
    }
    let mut first = pop_now(&q).await.expect("1");
    let mut second = pop_now(&q).await.expect("2");
    let mut third = pop_now(&q).await.expect("3");
    assert_eq!(
        [id_of(&mut first), id_of(&mut second), id_of(&mut third)],
        [1, 2, 3]
    );
    drop(first); // delivered
    drop(third); // delivered out of order
    second.keep(); // cut off by a crash
    drop(q);

    let q = open(dir.path(), 1 << 20);
    assert_eq!(q.len(), 3, "2, 4 and 5 were not delivered");
    let mut ids = Vec::new();
    while let Some(mut queued) = pop_now(&q).await {
        ids.push(id_of(&mut queued));
    }
    assert_eq!(ids, [2, 4, 5], "3 was delivered: not sent again");
    drop(q);
    let q = open(dir.path(), 1 << 20);
    assert_eq!(q.len(), 0, "everything delivered");
}

#[tokio::test]
async fn a_corrupt_tail_is_logged_counted_and_skipped_and_writing_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(dir.path(), 1 << 20);
    for id in 1..=3 {
        q.push(batch(id, 500), Duration::ZERO).await.expect("push");
    }
    drop(q);
    let segment = dir.path().join(format!("{:020}.seg", 1));
    let len = std::fs::metadata(&segment).expect("segment").len();
    let record = len / 3;
    // The last record cut short (a write torn by power loss), and a flipped byte case below.
    OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open")
        .set_len(len - 100)
        .expect("truncate");

    let q = open(dir.path(), 1 << 20);
    assert_eq!(q.len(), 2, "records 1 and 2 are whole");
    assert_eq!(
        q.corrupt_bytes(),
        record - 100,
        "the cut record's bytes are counted"
    );
    q.push(batch(4, 500), Duration::ZERO)
        .await
        .expect("writes after the cut");
    let mut ids = Vec::new();
    while let Some(mut queued) = pop_now(&q).await {
        ids.push(id_of(&mut queued));
        queued.keep();
    }
    assert_eq!(ids, [1, 2, 4]);
    drop(q);

    // A flipped bit inside record 2: its CRC fails, it and what follows in the segment
    // are skipped, the collector goes on.
    let mut bytes = std::fs::read(&segment).expect("read");
    bytes[record as usize + 200] ^= 0x40;
    std::fs::write(&segment, bytes).expect("write");
    let q = open(dir.path(), 1 << 20);
    assert_eq!(q.len(), 1, "only record 1 survives");
    assert!(q.corrupt_bytes() >= record * 2);
}

#[tokio::test]
async fn segments_are_deleted_once_every_record_in_them_is_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let q = open(dir.path(), 2048);
    for id in 1..=10 {
        q.push(batch(id, 1000), Duration::ZERO).await.expect("push");
    }
    let segments = || {
        std::fs::read_dir(dir.path())
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            })
            .count()
    };
    assert!(segments() >= 5, "about two records per segment");
    while let Some(queued) = pop_now(&q).await {
        drop(queued);
    }
    assert_eq!(segments(), 1, "only the segment being written is left");
}

#[tokio::test]
async fn the_byte_bound_counts_what_is_on_disk_until_delivered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = batch(1, 1400).encoded_len() as u64 + 17;
    let q = PersistentQueue::open(dir.path(), options(1 << 20), &spec(100, 2 * record + 100))
        .expect("open");
    q.push(batch(1, 1400), Duration::ZERO).await.expect("room");
    q.push(batch(2, 1400), Duration::ZERO).await.expect("room");
    let (refused, back) = q
        .push(batch(3, 1400), Duration::from_millis(50))
        .await
        .expect_err("full");
    assert_eq!(refused, Refused::Full);
    let mut back = Queued::new(back, |_| {});
    assert_eq!(id_of(&mut back), 3, "handed back, not lost");
    let popped = pop_now(&q).await.expect("1");
    assert!(
        q.push(batch(3, 1400), Duration::ZERO).await.is_err(),
        "a record being exported still holds its room"
    );
    drop(popped);
    q.push(batch(3, 1400), Duration::ZERO)
        .await
        .expect("room once delivered");
}

#[tokio::test]
async fn a_second_opener_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _q = open(dir.path(), 1 << 20);
    let Err(e) = PersistentQueue::open(dir.path(), options(1 << 20), &spec(10, 0)) else {
        panic!("opened twice");
    };
    assert!(
        e.to_string().contains("in use by another llamacol process"),
        "{e}"
    );
}

/// Model-based: random pushes, pops, deliveries (in any order), crashes (in-flight
/// batches neither delivered nor acknowledged) and torn tails (garbage after the last
/// record, as a crash mid-write leaves). The model is the list of batches pushed and the
/// set delivered. Checked: every pop returns the first batch neither delivered nor
/// handed out in this run (order kept, nothing lost); after a reopen exactly the
/// undelivered batches come back (nothing delivered is sent twice).
#[tokio::test]
async fn model_based_random_operations_never_lose_or_reorder_or_resend_delivered_batches() {
    for seed in 0..60u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tempdir");
        let segment = rng.random_range(600..6000);
        let mut q = open(dir.path(), segment);
        let mut pushed: Vec<u64> = Vec::new();
        let mut delivered: HashSet<u64> = HashSet::new();
        let mut handed: HashSet<u64> = HashSet::new();
        let mut in_flight: Vec<(u64, Queued)> = Vec::new();
        let mut corrupt = 0;
        let mut next_id = 1;
        for step in 0..250 {
            let context = format!("seed {seed} step {step}");
            match rng.random_range(0..100) {
                0..=39 => {
                    let len = rng.random_range(8..1500);
                    q.push(batch(next_id, len), Duration::ZERO)
                        .await
                        .unwrap_or_else(|_| panic!("{context}: push refused"));
                    pushed.push(next_id);
                    next_id += 1;
                }
                40..=64 => {
                    let expected = pushed
                        .iter()
                        .find(|id| !delivered.contains(id) && !handed.contains(id))
                        .copied();
                    let got = match pop_now(&q).await {
                        Some(mut queued) => {
                            let id = id_of(&mut queued);
                            handed.insert(id);
                            in_flight.push((id, queued));
                            Some(id)
                        }
                        None => None,
                    };
                    assert_eq!(got, expected, "{context}: pop");
                }
                65..=89 if !in_flight.is_empty() => {
                    let i = rng.random_range(0..in_flight.len());
                    let (id, queued) = in_flight.swap_remove(i);
                    drop(queued);
                    delivered.insert(id);
                }
                _ => {
                    for (_, queued) in in_flight.drain(..) {
                        queued.keep();
                    }
                    drop(q);
                    handed.clear();
                    if rng.random_bool(0.4) {
                        let last = last_segment(dir.path());
                        let garbage: Vec<u8> =
                            (0..rng.random_range(1..60)).map(|_| rng.random()).collect();
                        let mut file = OpenOptions::new()
                            .append(true)
                            .open(&last)
                            .expect("segment");
                        file.write_all(&garbage).expect("torn tail");
                        corrupt += garbage.len() as u64;
                    }
                    q = open(dir.path(), segment);
                    assert_eq!(
                        q.corrupt_bytes(),
                        corrupt,
                        "{context}: the torn tail is counted"
                    );
                    let undelivered = pushed.iter().filter(|id| !delivered.contains(id)).count();
                    assert_eq!(q.len(), undelivered, "{context}: after reopen");
                    corrupt = 0;
                }
            }
        }
        // Drain: exactly the undelivered batches, in order.
        for (_, queued) in in_flight.drain(..) {
            queued.keep();
        }
        drop(q);
        let q = open(dir.path(), segment);
        let mut rest = Vec::new();
        while let Some(mut queued) = pop_now(&q).await {
            rest.push(id_of(&mut queued));
        }
        let expected: Vec<u64> = pushed
            .iter()
            .filter(|id| !delivered.contains(id))
            .copied()
            .collect();
        assert_eq!(rest, expected, "seed {seed}: final drain");
    }
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}
