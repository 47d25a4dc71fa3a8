//! The `host_metrics` receiver on this machine, against two readers of the same machine
//! in the same test: the real node exporter (Debian's `prometheus-node-exporter`), read
//! before and after llamacol's collection, so every counter llamacol reports must lie
//! between node exporter's two readings and every gauge within a stated tolerance; and
//! the real OpenTelemetry Collector's `hostmetrics` with the same scrapers, whose metric
//! names, units, types, attribute keys and attribute values llamacol must reproduce.
//! Needs `node-exporter` and `otelcol`, which `scripts/test` installs or builds.

mod common;

use common::{arr, scalar};

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::node_exporter::start_node_exporter;
use common::otelcol::{Otelcol, QUIET_TELEMETRY};
use common::{http_get, lines, Collector};

/// One point as written by a file exporter (llamacol's or the Collector's: OTLP JSON).
#[derive(Debug, Clone)]
struct Point {
    resource: BTreeMap<String, String>,
    name: String,
    unit: String,
    /// `gauge`, `sum` or `sum (monotonic)`.
    shape: String,
    attributes: BTreeMap<String, String>,
    value: f64,
}

fn points(path: &std::path::Path) -> Vec<Point> {
    let mut out = Vec::new();
    for line in lines(path) {
        for r in arr(&line["resourceMetrics"]) {
            let resource: BTreeMap<String, String> = arr(&r["resource"]["attributes"])
                .iter()
                .map(|a| {
                    (
                        a["key"].as_str().unwrap_or_default().to_string(),
                        scalar(&a["value"]),
                    )
                })
                .collect();
            for s in arr(&r["scopeMetrics"]) {
                for m in arr(&s["metrics"]) {
                    let (shape, data) = if m["gauge"].is_object() {
                        ("gauge".to_string(), &m["gauge"])
                    } else if m["sum"]["isMonotonic"] == true {
                        ("sum (monotonic)".to_string(), &m["sum"])
                    } else {
                        ("sum".to_string(), &m["sum"])
                    };
                    for p in arr(&data["dataPoints"]) {
                        let number = |v: &serde_json::Value| {
                            v.as_f64()
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        };
                        out.push(Point {
                            resource: resource.clone(),
                            name: m["name"].as_str().unwrap_or_default().to_string(),
                            unit: m["unit"].as_str().unwrap_or_default().to_string(),
                            shape: shape.clone(),
                            attributes: arr(&p["attributes"])
                                .iter()
                                .map(|a| {
                                    (
                                        a["key"].as_str().unwrap_or_default().to_string(),
                                        scalar(&a["value"]),
                                    )
                                })
                                .collect(),
                            value: number(&p["asDouble"])
                                .or_else(|| number(&p["asInt"]))
                                .unwrap_or(f64::NAN),
                        });
                    }
                }
            }
        }
    }
    out
}

/// Node exporter's text exposition: `name{labels}` -> value.
fn node_metrics(port: u16) -> BTreeMap<String, f64> {
    let (status, body) = http_get(port, "/metrics");
    assert_eq!(status, 200);
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Every scraper the Collector has on Linux but nfs, on their defaults; the process
/// scraper on the node exporter only (a process both readers can ask about).
const SCRAPERS: &str =
    "{cpu: , memory: , load: , disk: , filesystem: , network: , paging: , processes: , system: , \
    process: {include: {names: [prometheus-node-exporter], match_type: strict}}}";

/// The same, with what node exporter can be compared against switched on: CPU time per
/// CPU, the memory limit, the process's descriptors.
const SCRAPERS_FOR_NODE_EXPORTER: &str = "{cpu: {metrics: {system.cpu.time: {attributes: [cpu, state]}}}, \
    memory: {metrics: {system.memory.limit: {enabled: true}}}, load: , disk: , filesystem: , network: , paging: , processes: , system: , \
    process: {include: {names: [prometheus-node-exporter], match_type: strict}, \
    metrics: {process.open_file_descriptors: {enabled: true}}}}";

fn llamacol_config(interval: &str, scrapers: &str) -> String {
    format!(
        r#"receivers:
  hostmetrics:
    collection_interval: {interval}
    initial_delay: 0s
    scrapers: {scrapers}
exporters:
  file: {{path: "${{env:LLAMACOL_FILE_PATH}}"}}
service:
  telemetry: {{admin: {{endpoint: "${{env:LLAMACOL_ADMIN_ENDPOINT}}"}}}}
  pipelines:
    metrics: {{receivers: [hostmetrics], exporters: [file]}}
"#
    )
}

fn wait_for_points(
    path: &std::path::Path,
    what: &str,
    enough: impl Fn(&[Point]) -> bool,
) -> Vec<Point> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = points(path);
        if enough(&got) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no complete collection in 30s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn find<'a>(points: &'a [Point], name: &str, attrs: &[(&str, &str)]) -> Option<&'a Point> {
    points.iter().find(|p| {
        p.name == name
            && attrs
                .iter()
                .all(|(k, v)| p.attributes.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
#[ignore = "needs node-exporter: run scripts/test"]
fn agrees_with_node_exporter_on_the_same_machine() {
    let node = start_node_exporter();
    let before = node_metrics(node.port);
    let mut collector = Collector::from_yaml(&llamacol_config("1h", SCRAPERS_FOR_NODE_EXPORTER));
    let ours = wait_for_points(&collector.file, "llamacol", |p| {
        p.iter().any(|p| p.name == "process.cpu.time")
            && p.iter().any(|p| p.name == "system.uptime")
    });
    let after = node_metrics(node.port);
    collector.terminate();

    let mut checked = BTreeMap::<&str, usize>::new();
    let mut failures = Vec::new();
    // A counter llamacol read between node exporter's two readings lies between them.
    let mut between = |what: &'static str, ours: f64, series: &str| {
        let (Some(a), Some(b)) = (before.get(series), after.get(series)) else {
            return;
        };
        // Node exporter prints floats with up to 17 significant digits; /proc has 2 decimals.
        if ours < a - 1e-6 || ours > b + 1e-6 {
            failures.push(format!(
                "{what}: llamacol {ours} not within node exporter's [{a}, {b}] for {series}"
            ));
        }
        *checked.entry(what).or_default() += 1;
    };
    for p in ours.iter().filter(|p| p.name == "system.cpu.time") {
        let cpu = p.attributes["cpu"].trim_start_matches("cpu");
        let mode = match p.attributes["state"].as_str() {
            "wait" => "iowait",
            "interrupt" => "irq",
            other => other,
        };
        between(
            "system.cpu.time",
            p.value,
            &format!("node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}}"),
        );
    }
    for p in ours.iter().filter(|p| p.name.starts_with("system.disk.")) {
        let (device, direction) = (&p.attributes["device"], p.attributes.get("direction"));
        let series = match (p.name.as_str(), direction.map(String::as_str)) {
            ("system.disk.io", Some("read")) => "node_disk_read_bytes_total",
            ("system.disk.io", Some("write")) => "node_disk_written_bytes_total",
            ("system.disk.operations", Some("read")) => "node_disk_reads_completed_total",
            ("system.disk.operations", Some("write")) => "node_disk_writes_completed_total",
            ("system.disk.merged", Some("read")) => "node_disk_reads_merged_total",
            ("system.disk.merged", Some("write")) => "node_disk_writes_merged_total",
            ("system.disk.io_time", None) => "node_disk_io_time_seconds_total",
            ("system.disk.weighted_io_time", None) => "node_disk_io_time_weighted_seconds_total",
            ("system.disk.operation_time", Some("read")) => "node_disk_read_time_seconds_total",
            ("system.disk.operation_time", Some("write")) => "node_disk_write_time_seconds_total",
            _ => continue,
        };
        between(
            "system.disk.*",
            p.value,
            &format!("{series}{{device=\"{device}\"}}"),
        );
    }
    for p in ours
        .iter()
        .filter(|p| p.name.starts_with("system.network.") && p.attributes.contains_key("device"))
    {
        let (device, direction) = (&p.attributes["device"], p.attributes["direction"].as_str());
        let dir = if direction == "receive" {
            "receive"
        } else {
            "transmit"
        };
        let what = match p.name.as_str() {
            "system.network.io" => "bytes",
            "system.network.packets" => "packets",
            "system.network.errors" => "errs",
            "system.network.dropped" => "drop",
            _ => continue,
        };
        between(
            "system.network.*",
            p.value,
            &format!("node_network_{dir}_{what}_total{{device=\"{device}\"}}"),
        );
    }
    if let Some(p) = find(&ours, "system.processes.created", &[]) {
        between("system.processes.created", p.value, "node_forks_total");
    }
    if let Some(p) = find(&ours, "system.paging.faults", &[("type", "major")]) {
        between("system.paging.faults", p.value, "node_vmstat_pgmajfault");
    }
    for (dir, kernel) in [("page_in", "pgpgin"), ("page_out", "pgpgout")] {
        if let Some(p) = find(
            &ours,
            "system.paging.operations",
            &[("direction", dir), ("type", "minor")],
        ) {
            between(
                "system.paging.operations",
                p.value,
                &format!("node_vmstat_{kernel}"),
            );
        }
    }
    // Node exporter's own process, as its Go client reports itself (by pid: other tests
    // may run node exporters of their own at the same time).
    let pid = node.pid().to_string();
    let exporter: Vec<&Point> = ours
        .iter()
        .filter(|p| p.resource.get("process.pid") == Some(&pid))
        .collect();
    assert!(
        exporter
            .iter()
            .all(|p| p.resource["process.executable.name"] == "prometheus-node-exporter"),
        "pid {pid} is not the node exporter"
    );
    assert!(
        !exporter.is_empty(),
        "the process scraper saw no node exporter"
    );
    let cpu: f64 = exporter
        .iter()
        .filter(|p| p.name == "process.cpu.time" && p.attributes["state"] != "wait")
        .map(|p| p.value)
        .sum();
    between("process.cpu.time", cpu, "process_cpu_seconds_total");

    // Gauges: within a tolerance of node exporter's readings around ours.
    let mut near = |what: &'static str, ours: f64, series: &str, tolerance: f64| {
        let (Some(a), Some(b)) = (before.get(series), after.get(series)) else {
            failures.push(format!("{what}: node exporter has no {series}"));
            return;
        };
        let (low, high) = (a.min(*b), a.max(*b));
        if ours < low - tolerance || ours > high + tolerance {
            failures.push(format!("{what}: llamacol {ours} not within {tolerance} of node exporter's [{low}, {high}] ({series})"));
        }
        *checked.entry(what).or_default() += 1;
    };
    let total = before["node_memory_MemTotal_bytes"];
    near(
        "system.memory.limit",
        find(&ours, "system.memory.limit", &[]).map_or(0.0, |p| p.value),
        "node_memory_MemTotal_bytes",
        0.0,
    );
    let used = find(&ours, "system.memory.usage", &[("state", "used")])
        .expect("memory used")
        .value;
    let available = total - used;
    near(
        "system.memory.usage",
        available,
        "node_memory_MemAvailable_bytes",
        total * 0.02,
    );
    let free = find(&ours, "system.memory.usage", &[("state", "free")])
        .expect("memory free")
        .value;
    near(
        "system.memory.usage",
        free,
        "node_memory_MemFree_bytes",
        total * 0.02,
    );
    for (m, series) in [
        ("1m", "node_load1"),
        ("5m", "node_load5"),
        ("15m", "node_load15"),
    ] {
        let p = find(&ours, &format!("system.cpu.load_average.{m}"), &[]).expect("load");
        near("system.cpu.load_average.*", p.value, series, 0.5);
    }
    for p in ours
        .iter()
        .filter(|p| p.name == "system.filesystem.usage" && p.attributes["state"] == "free")
    {
        let labels = format!(
            "{{device=\"{}\",fstype=\"{}\",mountpoint=\"{}\"}}",
            p.attributes["device"], p.attributes["type"], p.attributes["mountpoint"]
        );
        let size = ours
            .iter()
            .filter(|q| {
                q.name == "system.filesystem.usage"
                    && q.attributes["mountpoint"] == p.attributes["mountpoint"]
            })
            .map(|q| q.value)
            .sum::<f64>();
        near(
            "system.filesystem.usage (size)",
            size,
            &format!("node_filesystem_size_bytes{labels}"),
            0.0,
        );
        near(
            "system.filesystem.usage (free)",
            p.value,
            &format!("node_filesystem_avail_bytes{labels}"),
            size * 0.01,
        );
    }
    let boot = before["node_boot_time_seconds"];
    let uptime = find(&ours, "system.uptime", &[]).expect("uptime").value;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    assert!(
        (now - boot - uptime).abs() < 30.0,
        "uptime {uptime} against boot {boot}"
    );
    let cpus = before
        .keys()
        .filter(|k| k.starts_with("node_cpu_seconds_total{") && k.contains("mode=\"idle\""))
        .count();
    assert_eq!(
        find(&ours, "system.cpu.logical.count", &[])
            .expect("count")
            .value,
        cpus as f64
    );
    let rss = exporter
        .iter()
        .find(|p| p.name == "process.memory.usage")
        .expect("rss")
        .value;
    near(
        "process.memory.usage",
        rss,
        "process_resident_memory_bytes",
        4.0 * 1024.0 * 1024.0,
    );
    let fds = exporter
        .iter()
        .find(|p| p.name == "process.open_file_descriptors")
        .expect("fds")
        .value;
    near(
        "process.open_file_descriptors",
        fds,
        "process_open_fds",
        3.0,
    );

    eprintln!("checked against node exporter: {checked:?}");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for what in [
        "system.cpu.time",
        "system.disk.*",
        "system.network.*",
        "system.processes.created",
        "process.cpu.time",
    ] {
        assert!(
            checked.get(what).copied().unwrap_or(0) > 0,
            "nothing compared for {what}: {checked:?}"
        );
    }
}

/// (scraper-level identity) name, unit, shape and attribute keys of each metric.
fn shapes(points: &[Point]) -> BTreeSet<String> {
    points
        .iter()
        .map(|p| {
            let keys: Vec<&str> = p.attributes.keys().map(String::as_str).collect();
            format!("{} [{}] {} {:?}", p.name, p.unit, p.shape, keys)
        })
        .collect()
}

/// Attribute values that do not depend on the instant of the reading.
fn values(points: &[Point]) -> BTreeSet<String> {
    points
        .iter()
        .filter(|p| {
            !matches!(
                p.name.as_str(),
                "system.processes.count" | "system.network.connections"
            )
        })
        .map(|p| format!("{} {:?}", p.name, p.attributes))
        .collect()
}

#[test]
#[ignore = "needs otelcol and node-exporter: run scripts/test"]
fn emits_what_the_collectors_hostmetrics_emits() {
    // The node exporter is only a process both read (the process scraper's one target).
    let _node = start_node_exporter();
    let mut otelcol = Otelcol::start(
        &format!(
            r#"receivers:
  otlp:
    protocols: {{grpc: {{endpoint: "${{env:OTELCOL_GRPC}}"}}, http: {{endpoint: "${{env:OTELCOL_HTTP}}"}}}}
  host_metrics:
    collection_interval: 1s
    initial_delay: 0s
    scrapers: {SCRAPERS}
exporters:
  file: {{path: "${{env:OTELCOL_FILE}}"}}
service:
{QUIET_TELEMETRY}  pipelines:
    metrics: {{receivers: [otlp, host_metrics], exporters: [file]}}
"#
        ),
        &[],
    );
    let mut collector = Collector::from_yaml(&llamacol_config("1s", SCRAPERS));
    // Two cycles each, so that the second-cycle metrics (none by default) would show.
    let complete = |p: &[Point]| p.iter().filter(|p| p.name == "system.uptime").count() >= 2;
    let ours = wait_for_points(&collector.file, "llamacol", complete);
    let theirs = wait_for_points(&otelcol.file, "otelcol", complete);
    collector.terminate();
    otelcol.terminate();

    let (a, b) = (shapes(&ours), shapes(&theirs));
    let only =
        |x: &BTreeSet<String>, y: &BTreeSet<String>| x.difference(y).cloned().collect::<Vec<_>>();
    assert_eq!(
        (only(&a, &b), only(&b, &a)),
        (vec![], vec![]),
        "(only llamacol, only the Collector) among {} metric shapes",
        a.len()
    );
    let (a, b) = (values(&ours), values(&theirs));
    assert_eq!(
        (only(&a, &b), only(&b, &a)),
        (vec![], vec![]),
        "attribute values differ"
    );
    let resource_keys = |p: &[Point]| -> BTreeSet<String> {
        p.iter().flat_map(|p| p.resource.keys().cloned()).collect()
    };
    assert_eq!(resource_keys(&ours), resource_keys(&theirs));
    eprintln!(
        "llamacol and the Collector agree on {} metric shapes and {} attribute sets",
        shapes(&ours).len(),
        a.len()
    );
}
