use std::time::{Duration, Instant};

use super::{MemoryQueue, Queue, Refused};
use crate::batch::Batch;
use crate::testing::sample_traces;

fn batch(spans: usize) -> Batch {
    Batch::from(sample_traces(1, spans))
}

#[tokio::test]
async fn a_full_queue_makes_the_pusher_wait_and_wakes_it_when_a_batch_is_done() {
    let q = std::sync::Arc::new(MemoryQueue::new(2, 0));
    q.push(batch(1), Duration::ZERO).await.expect("room");
    let held = q.pop().await.expect("popped: being exported");
    q.push(batch(1), Duration::ZERO).await.expect("room");
    let (refused, _) = q.push(batch(1), Duration::ZERO).await.expect_err("full");
    assert_eq!(
        refused,
        Refused::Full,
        "the exported batch still holds its room"
    );

    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            q.push(batch(1), Duration::from_secs(5))
                .await
                .map_err(|(r, _)| r)?;
            Ok::<Duration, Refused>(started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "waits for room");
    drop(held); // delivered: its room is released
    let waited = waiter.await.expect("task").expect("pushed once room freed");
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(q.len(), 2);
}

#[tokio::test]
async fn the_wait_is_bounded_and_the_batch_handed_back() {
    let q = MemoryQueue::new(1, 0);
    q.push(batch(3), Duration::ZERO).await.expect("room");
    let started = Instant::now();
    let (refused, back) = q
        .push(batch(7), Duration::from_millis(150))
        .await
        .expect_err("still full");
    assert_eq!(refused, Refused::Full);
    assert_eq!(
        back.items(),
        7,
        "nothing lost: the caller gets the batch back"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn bytes_bound_the_queue_and_a_batch_larger_than_the_bound_passes_alone() {
    let one = batch(100).encoded_len() as u64;
    let q = MemoryQueue::new(100, one * 2 + 10);
    q.push(batch(100), Duration::ZERO).await.expect("1 of 2");
    q.push(batch(100), Duration::ZERO).await.expect("2 of 2");
    assert!(q.bytes() >= 2 * one);
    let (refused, _) = q
        .push(batch(100), Duration::ZERO)
        .await
        .expect_err("bytes full");
    assert_eq!(refused, Refused::Full);
    assert_eq!(q.take_all().len(), 2);
    assert_eq!(q.bytes(), 0, "room released with the batches");

    let huge = batch(1000);
    assert!(huge.encoded_len() as u64 > one * 2 + 10);
    q.push(huge, Duration::ZERO)
        .await
        .expect("alone in an empty queue");
    let (refused, _) = q
        .push(batch(1), Duration::ZERO)
        .await
        .expect_err("it fills the bound");
    assert_eq!(refused, Refused::Full);
}

#[tokio::test]
async fn closing_wakes_waiters_and_pop_drains_what_is_left() {
    let q = std::sync::Arc::new(MemoryQueue::new(1, 0));
    q.push(batch(2), Duration::ZERO).await.expect("room");
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move {
            q.push(batch(1), Duration::from_secs(30))
                .await
                .map_err(|(r, _)| r)
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    q.close();
    assert_eq!(waiter.await.expect("task"), Err(Refused::Closed));
    let mut left = q.pop().await.expect("queued before close");
    assert_eq!(left.batch.take().map(|b| b.items()), Some(2));
    drop(left);
    assert!(q.pop().await.is_none(), "closed and empty");
}
