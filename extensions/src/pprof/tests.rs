use std::io::Read;

use llamacol_api::serde_yaml;
use llamacol_api::{ComponentId, ExtensionContext, NodeContext};
use llamacol_pipeline::testing::free_port;
use prost::Message;

use super::profile::Profile;

fn pprof(block: &str) -> std::sync::Arc<dyn llamacol_api::Extension> {
    let ctx = ExtensionContext {
        id: ComponentId::parse("pprof").expect("id"),
        status: llamacol_api::ServiceStatus::default(),
        node: NodeContext::new(),
    };
    let block: serde_yaml::Value = serde_yaml::from_str(block).expect("yaml");
    if let Err(issues) = (super::factory().config.check)(&block) {
        panic!("{issues:?}");
    }
    (super::factory().build)(&ctx, &block).expect("builds")
}

/// Burns CPU in a function of its own, so the profile has a known frame.
#[inline(never)]
fn spin_for_the_profile(until: std::time::Instant) -> u64 {
    let mut x = 1u64;
    while std::time::Instant::now() < until {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
    x
}

fn decode(gzipped: &[u8]) -> Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gzipped)
        .read_to_end(&mut raw)
        .expect("gzip");
    Profile::decode(&raw[..]).expect("a pprof profile")
}

/// One test takes every profile (the profiler is one per process).
#[tokio::test(flavor = "multi_thread")]
async fn a_cpu_profile_in_the_pprof_format_and_the_rest_of_the_endpoints() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tmp");
    let run_file = dir.path().join("run.pprof");
    let ext = pprof(&format!(
        "{{endpoint: \"127.0.0.1:{port}\", save_to_file: \"{}\"}}",
        run_file.display()
    ));
    ext.start().await.expect("starts");
    let url = |p: &str| format!("http://127.0.0.1:{port}/debug/pprof/{p}");
    // While the run is profiled, a second profile is refused and says why.
    let busy = reqwest::get(url("profile?seconds=1"))
        .await
        .expect("answers");
    assert_eq!(busy.status().as_u16(), 409, "{:?}", busy.text().await);
    let spinner = std::thread::spawn(|| {
        spin_for_the_profile(std::time::Instant::now() + std::time::Duration::from_millis(1500))
    });
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let _ = spinner.join();
    ext.shutdown().await.expect("stops");
    let whole = decode(&std::fs::read(&run_file).expect("the run's profile"));
    let names: Vec<&str> = whole.string_table.iter().map(String::as_str).collect();
    assert!(
        names.contains(&"samples") && names.contains(&"nanoseconds"),
        "{names:?}"
    );
    assert!(!whole.sample.is_empty(), "samples taken");
    assert!(
        names.iter().any(|n| n.contains("spin_for_the_profile")),
        "the busy function is in the profile"
    );
    assert_eq!(whole.period, 10_000_000, "100 Hz");

    // The endpoint alone.
    let port = free_port();
    let ext = pprof(&format!("{{endpoint: \"127.0.0.1:{port}\"}}"));
    ext.start().await.expect("starts");
    let url = |p: &str| format!("http://127.0.0.1:{port}/debug/pprof/{p}");
    let spinner = std::thread::spawn(|| {
        spin_for_the_profile(std::time::Instant::now() + std::time::Duration::from_millis(1200))
    });
    let response = reqwest::get(url("profile?seconds=1"))
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 200);
    let profile = decode(&response.bytes().await.expect("body"));
    let _ = spinner.join();
    assert!(
        profile.duration_nanos >= 1_000_000_000,
        "{}",
        profile.duration_nanos
    );
    assert!(profile.sample.iter().all(|s| s.value.len() == 2));
    let threads = reqwest::get(url("threads"))
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    assert!(
        threads.starts_with("tid\tname\tuser_s\tsystem_s\n") && threads.lines().count() > 2,
        "{threads}"
    );
    for go_only in ["heap", "goroutine", "allocs", "block", "mutex"] {
        assert_eq!(
            reqwest::get(url(go_only))
                .await
                .expect("answers")
                .status()
                .as_u16(),
            501
        );
    }
    assert_eq!(
        reqwest::get(url("profile?seconds=0"))
            .await
            .expect("answers")
            .status()
            .as_u16(),
        400
    );
    ext.shutdown().await.expect("stops");
}
