//! Cost of one llama.cpp scrape cycle per target: the whole cycle (4 HTTP requests to a
//! local fake server answering with the captured fixtures, parsing, OTLP building), and
//! the parsing alone. Run: `cargo bench --bench llamacpp_scrape`.

use criterion::{criterion_group, criterion_main, Criterion};
use llamacol_receivers::llamacpp::{parse, LlamaCppConfig, TargetScraper};

fn fixture(name: &str) -> String {
    let dir = llamacol_pipeline::testing::fixtures_dir().join("llamacpp");
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let port = llamacol_pipeline::testing::free_port();
    let (metrics, slots, health, props) = (
        fixture("metrics_during.txt"),
        fixture("slots_busy.json"),
        fixture("health.json"),
        fixture("props.json"),
    );
    runtime.spawn(async move {
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || async move { metrics }),
            )
            .route("/slots", axum::routing::get(move || async move { slots }))
            .route("/health", axum::routing::get(move || async move { health }))
            .route("/props", axum::routing::get(move || async move { props }));
        if let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            let _ = axum::serve(listener, app).await;
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(200));
    let yaml =
        format!("{{targets: [{{endpoint: \"http://127.0.0.1:{port}\"}}], props_interval: 0s}}");
    let config: LlamaCppConfig =
        llamacol_pipeline::config::parse(&llamacol_api::serde_yaml::from_str(&yaml).expect("yaml"))
            .expect("config");
    let mut scraper = runtime
        .block_on(async { TargetScraper::new(&config.targets[0], &config) })
        .expect("scraper");
    c.bench_function(
        "llamacpp scrape cycle (4 endpoints, loopback, fixtures)",
        |b| b.iter(|| runtime.block_on(scraper.cycle())),
    );
    let text = fixture("metrics_during.txt");
    let slots = fixture("slots_busy.json");
    c.bench_function("llamacpp parse /metrics + /slots", |b| {
        b.iter(|| {
            (
                parse::prometheus_text(&text),
                parse::slots(slots.as_bytes()),
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
