use std::time::Duration;

use llamacol_api::config::{parse, ComponentConfig};
use llamacol_pipeline::testing::sample_traces;

use super::*;

struct Count(AtomicU64);

#[async_trait]
impl Consumer for Count {
    async fn consume(&self, batch: Batch) -> Result<(), ConsumeError> {
        self.0.fetch_add(batch.items() as u64, Ordering::SeqCst);
        Ok(())
    }
}

const MIB: u64 = 1 << 20;

#[tokio::test(start_paused = true)]
async fn refuses_retryably_above_the_soft_limit_and_recovers() {
    let usage = Arc::new(AtomicU64::new(100 * MIB));
    let read: UsageReader = {
        let usage = usage.clone();
        Arc::new(move || Some(usage.load(Ordering::SeqCst)))
    };
    let config: MemoryLimiterConfig = parse(
        &llamacol_api::serde_yaml::from_str("{limit_mib: 200, check_interval: 100ms}")
            .expect("yaml"),
    )
    .expect("config");
    let limits = config.limits(None).expect("limits");
    assert_eq!(
        limits,
        Limits {
            hard: 200 * MIB,
            soft: 160 * MIB
        },
        "spike defaults to 20%"
    );
    let next = Arc::new(Count(AtomicU64::new(0)));
    let limiter = MemoryLimiter::new("memory_limiter".into(), config, limits, next.clone(), read);
    limiter.start().await.expect("start");

    limiter
        .consume(sample_traces(1, 3).into())
        .await
        .expect("below the limit");
    usage.store(170 * MIB, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let err = limiter
        .consume(sample_traces(1, 3).into())
        .await
        .expect_err("above the soft limit");
    assert!(err.is_retryable());
    assert_eq!(err.to_string(), "memory limiter `memory_limiter`: using 170 MiB, above the soft limit of 160 MiB; retry later");
    usage.store(150 * MIB, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    limiter
        .consume(sample_traces(1, 3).into())
        .await
        .expect("recovered");
    assert_eq!(
        next.0.load(Ordering::SeqCst),
        6,
        "nothing refused reached the next stage, nothing accepted lost"
    );
    limiter.shutdown().await.expect("shutdown");
}

#[test]
fn percentages_resolve_against_total_memory() {
    let config: MemoryLimiterConfig = parse(
        &llamacol_api::serde_yaml::from_str("{limit_percentage: 80, spike_limit_percentage: 25}")
            .expect("yaml"),
    )
    .expect("config");
    assert!(config.validate().is_empty());
    let limits = config.limits(Some(1000 * MIB)).expect("limits");
    assert_eq!(limits.hard, 800 * MIB);
    assert_eq!(limits.soft, 550 * MIB);
    assert!(config.limits(None).is_err());
}

#[test]
fn config_needs_exactly_one_limit() {
    let none = MemoryLimiterConfig::default().validate();
    assert_eq!(
        none[0].message,
        "set `limit_mib` (e.g. 400) or `limit_percentage` (e.g. 80)"
    );
    let both: MemoryLimiterConfig = parse(
        &llamacol_api::serde_yaml::from_str("{limit_mib: 10, limit_percentage: 10}").expect("yaml"),
    )
    .expect("config");
    assert_eq!(both.validate()[0].path, "limit_percentage");
    let spike: MemoryLimiterConfig = parse(
        &llamacol_api::serde_yaml::from_str("{limit_mib: 10, spike_limit_mib: 10}").expect("yaml"),
    )
    .expect("config");
    assert_eq!(spike.validate()[0].path, "spike_limit_mib");
}

#[test]
fn reads_linux_memory_files() {
    assert_eq!(
        parse_status_rss("Name:\tllamacol\nVmHWM:\t  9000 kB\nVmRSS:\t   12345 kB\n"),
        Some(12345 * 1024)
    );
    assert_eq!(
        parse_meminfo_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
        Some(24576000 * 1024)
    );
    assert_eq!(parse_cgroup_limit("max\n"), None);
    assert_eq!(
        parse_cgroup_limit("9223372036854771712\n"),
        None,
        "cgroup v1 unlimited"
    );
    assert_eq!(parse_cgroup_limit("536870912\n"), Some(512 * MIB));
    assert!(
        memory::resident_bytes().is_some_and(|b| b > MIB),
        "this process has an RSS"
    );
}
