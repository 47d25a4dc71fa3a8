use std::collections::BTreeMap;

use llamacol_api::config::ComponentConfig;
use llamacol_api::otlp::common::v1::any_value;
use llamacol_api::otlp::metrics::v1::{metric, number_data_point, Metric, NumberDataPoint};

use super::catalog::{catalog, parse, Shape, SCRAPERS};
use super::config::HostMetricsConfig;
use super::host::*;
use super::scrapers::process::parse_pid_stat;
use super::*;

/// A host root captured from a Linux machine (`testdata/README.md`): this machine's
/// `/proc` files, one shell's `/proc/<pid>` as pid 4242, the Collector's own
/// `/proc/swaps` test sample.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/hostmetrics/root");

fn config(yaml: &str) -> HostMetricsConfig {
    llamacol_api::serde_yaml::from_str(yaml).expect("config parses")
}

fn messages(c: &HostMetricsConfig) -> Vec<String> {
    c.validate()
        .iter()
        .map(|i| format!("{}: {}", i.path, i.message))
        .collect()
}

#[test]
fn every_embedded_table_parses_with_the_collectors_defaults() {
    for (name, text) in SCRAPERS {
        let table = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!table.metrics.is_empty(), "{name}");
        assert!(table.metrics.iter().all(|m| !m.name.contains('@')));
    }
    let cpu = catalog("cpu");
    let time = cpu
        .metrics
        .iter()
        .find(|m| m.name == "system.cpu.time")
        .expect("cpu.time");
    assert_eq!(time.unit, "s");
    assert_eq!(
        time.shape,
        Shape::Sum {
            int: false,
            monotonic: true
        }
    );
    assert_eq!(time.attributes, ["cpu", "state"]);
    assert!(time.enabled);
    // `name_override`: the attribute table's key is `cpu.frequency`, the point's key `cpu`.
    let freq = cpu
        .metrics
        .iter()
        .find(|m| m.name == "system.cpu.frequency")
        .expect("freq");
    assert_eq!(freq.attributes, ["cpu"]);
    assert!(!freq.enabled);
    let process = catalog("process");
    let switches = process
        .metrics
        .iter()
        .find(|m| m.name == "process.context_switches");
    assert_eq!(switches.expect("ctx").attributes, ["type"]);
    assert_eq!(process.resource_attributes.get("process.pid"), Some(&true));
    assert_eq!(
        process.resource_attributes.get("process.cgroup"),
        Some(&false)
    );
}

fn points<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> Vec<&'a NumberDataPoint> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
        .flat_map(|m: &Metric| match &m.data {
            Some(metric::Data::Sum(s)) => s.data_points.iter().collect::<Vec<_>>(),
            Some(metric::Data::Gauge(g)) => g.data_points.iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

fn with<'a>(points: &[&'a NumberDataPoint], attrs: &[(&str, &str)]) -> &'a NumberDataPoint {
    points
        .iter()
        .find(|p| {
            attrs.iter().all(|(k, v)| {
                p.attributes.iter().any(|a| {
                    a.key == *k
                        && matches!(&a.value.as_ref().and_then(|v| v.value.clone()),
                            Some(any_value::Value::StringValue(s)) if s == v)
                })
            })
        })
        .copied()
        .unwrap_or_else(|| panic!("no point with {attrs:?}"))
}

fn int(p: &NumberDataPoint) -> i64 {
    match p.value {
        Some(number_data_point::Value::AsInt(v)) => v,
        ref other => panic!("not an int: {other:?}"),
    }
}

fn double(p: &NumberDataPoint) -> f64 {
    match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        ref other => panic!("not a double: {other:?}"),
    }
}

#[test]
fn a_captured_host_reads_as_the_collector_reports_it() {
    let c = config(
        "scrapers: {cpu: , memory: , load: , disk: , network: , paging: , processes: , system: ,
                    process: {metrics: {process.threads: {enabled: true}}}}",
    );
    assert!(c.validate().is_empty());
    let mut host = Host::new(ROOT);
    host.ticks = 100.0;
    host.page_size = 4096;
    let boot = parse_stat(&host.read("proc/stat").expect("stat"), 100.0).boot_time * 1_000_000_000;
    let mut all = scrapers::build(&c.scrapers);
    let (request, sink) = collect_once(&host, boot, &mut all);

    // /proc/stat in 1/100 s: by default the Collector leaves out the `opt_in` attribute
    // `cpu` and sums the CPUs (`cpu0 131392 ...`, `cpu1 142486 ...`).
    let cpu = points(&request, "system.cpu.time");
    assert_eq!(cpu.len(), 8, "one point per state");
    assert!((double(with(&cpu, &[("state", "user")])) - 2738.78).abs() < 1e-9);
    assert!(cpu.iter().all(|p| p.attributes.len() == 1));
    assert_eq!(cpu[0].start_time_unix_nano, boot);
    assert_eq!(int(points(&request, "system.cpu.logical.count")[0]), 2);
    // Utilization needs two cycles; it is off by default anyway.
    assert!(points(&request, "system.cpu.utilization").is_empty());

    // meminfo: used = MemTotal - MemAvailable (24683772 - 23625604 kB).
    let mem = points(&request, "system.memory.usage");
    assert_eq!(
        int(with(&mem, &[("state", "used")])),
        (24683772 - 23625604) * 1024
    );
    assert_eq!(mem.len(), 6);

    assert_eq!(
        double(points(&request, "system.cpu.load_average.1m")[0]),
        3.46
    );
    assert_eq!(
        double(points(&request, "system.cpu.load_average.15m")[0]),
        4.15
    );

    let net = points(&request, "system.network.io");
    assert_eq!(
        int(with(&net, &[("device", "eth0"), ("direction", "receive")])),
        1557985371
    );
    assert_eq!(
        int(with(&net, &[("device", "eth0"), ("direction", "transmit")])),
        5326844
    );
    let conns = points(&request, "system.network.connections");
    assert_eq!(conns.len(), 12, "every TCP state, zeros included");
    assert_eq!(int(with(&conns, &[("state", "LISTEN")])), 1);

    // The Collector's own /proc/swaps sample: /dev/dm-2 67022844 kB, 490788 used.
    let paging = points(&request, "system.paging.usage");
    assert_eq!(
        int(with(&paging, &[("device", "/dev/dm-2"), ("state", "used")])),
        490788 * 1024
    );
    assert_eq!(
        int(with(&paging, &[("device", "/dev/dm-2"), ("state", "free")])),
        (67022844 - 490788) * 1024
    );
    assert_eq!(int(points(&request, "system.processes.created")[0]), 40232);

    // The process: one resource, the pid from the directory, the rest from its files.
    let process = request
        .resource_metrics
        .iter()
        .find(|r| !r.resource.as_ref().expect("resource").attributes.is_empty())
        .expect("a process resource");
    let attrs: BTreeMap<String, String> = process
        .resource
        .as_ref()
        .expect("resource")
        .attributes
        .iter()
        .map(|a| {
            (
                a.key.clone(),
                format!("{:?}", a.value.as_ref().and_then(|v| v.value.clone())),
            )
        })
        .collect();
    assert_eq!(attrs["process.pid"], "Some(IntValue(4242))");
    assert_eq!(attrs["process.parent_pid"], "Some(IntValue(1738))");
    assert_eq!(
        attrs["process.executable.name"],
        "Some(StringValue(\"bash\"))"
    );
    assert_eq!(attrs["process.owner"], "Some(StringValue(\"root\"))");
    assert!(!attrs.contains_key("process.cgroup"), "off by default");
    // stat: utime 4, stime 21 ticks; rss 1072 pages; 1 thread.
    let cpu = points(&request, "process.cpu.time");
    assert_eq!(double(with(&cpu, &[("state", "user")])), 0.04);
    assert_eq!(double(with(&cpu, &[("state", "system")])), 0.21);
    assert_eq!(
        int(points(&request, "process.memory.usage")[0]),
        1072 * 4096
    );
    assert_eq!(int(points(&request, "process.memory.virtual")[0]), 5509120);
    assert_eq!(int(points(&request, "process.threads")[0]), 1);
    // No /proc/4242/exe link in a capture: counted, the process still reported.
    assert!(sink
        .failed
        .iter()
        .any(|(s, kind, _)| *s == "process" && kind.contains("executable")));
}

#[test]
fn chosen_attributes_keep_points_apart_and_the_strategy_merges_the_rest() {
    let c = config(
        "scrapers: {cpu: {metrics: {system.cpu.time: {attributes: [cpu, state]}}},
                    disk: {metrics: {system.disk.io: {attributes: [direction], aggregation_strategy: max}}}}",
    );
    assert!(c.validate().is_empty(), "{:?}", messages(&c));
    let mut host = Host::new(ROOT);
    host.ticks = 100.0;
    let mut all = scrapers::build(&c.scrapers);
    let (request, _) = collect_once(&host, 0, &mut all);
    let cpu = points(&request, "system.cpu.time");
    assert_eq!(cpu.len(), 16);
    assert_eq!(
        double(with(&cpu, &[("cpu", "cpu0"), ("state", "user")])),
        1313.92
    );
    assert_eq!(
        double(with(&cpu, &[("cpu", "cpu0"), ("state", "steal")])),
        3.21
    );
    let io = points(&request, "system.disk.io");
    assert_eq!(io.len(), 2, "read and write, the devices merged");
    let stats = parse_diskstats(&host.read("proc/diskstats").expect("diskstats"));
    let most = stats.iter().map(|d| d.read_bytes).max().expect("devices");
    assert_eq!(int(with(&io, &[("direction", "read")])), most as i64);
    let bad = messages(&config(
        "scrapers: {cpu: {metrics: {system.cpu.time: {attributes: [core]}}}}",
    ));
    assert_eq!(bad, ["scrapers.cpu.metrics.system.cpu.time.attributes: metric system.cpu.time has no attribute `core`; its attributes: [cpu, state]"]);
}

#[test]
fn cpu_utilization_is_each_states_share_between_two_cycles() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
    let write = |text: &str| std::fs::write(dir.path().join("proc/stat"), text).expect("write");
    write("cpu0 100 0 100 800 0 0 0 0 0 0\nbtime 1\n");
    let c = config("scrapers: {cpu: {metrics: {system.cpu.utilization: {enabled: true}}}}");
    let mut host = Host::new(dir.path().to_str().expect("utf-8"));
    host.ticks = 100.0;
    let mut all = scrapers::build(&c.scrapers);
    collect_once(&host, 0, &mut all);
    write("cpu0 150 0 100 850 0 0 0 0 0 0\nbtime 1\n");
    let (request, _) = collect_once(&host, 0, &mut all);
    let u = points(&request, "system.cpu.utilization");
    assert_eq!(double(with(&u, &[("state", "user")])), 0.5);
    assert_eq!(double(with(&u, &[("state", "idle")])), 0.5);
    assert_eq!(double(with(&u, &[("state", "system")])), 0.0);
}

#[test]
fn mounts_are_the_device_backed_ones_without_binds() {
    let text = |f: &str| std::fs::read_to_string(format!("{ROOT}/{f}")).expect(f);
    let types = device_filesystems(&text("proc/filesystems"));
    assert!(types.contains(&"ext4".to_string()));
    assert!(!types.contains(&"tmpfs".to_string()));
    let all = parse_mountinfo(&text("proc/1/mountinfo"), None);
    let physical = parse_mountinfo(&text("proc/1/mountinfo"), Some(&types));
    assert!(physical.len() < all.len());
    assert!(physical.iter().all(|m| types.contains(&m.fs_type)));
    assert!(all
        .iter()
        .any(|m| m.mount_point == "/proc" && m.fs_type == "proc"));
    // Octal escapes and the read-only rule.
    let line = "36 35 98:0 / /mnt/my\\040disk ro,noatime master:1 - ext4 /dev/sda1 rw\n\
                37 35 98:1 / /data rw,noatime - ext4 /dev/sdb1 rw\n\
                38 35 98:1 /sub /bound rw - ext4 /dev/sdb1 rw\n";
    let ext4 = vec!["ext4".to_string()];
    let mounts = parse_mountinfo(line, Some(&ext4));
    assert_eq!(mounts.len(), 2, "the bind of /sub is left out: {mounts:?}");
    assert_eq!(mounts[0].mount_point, "/mnt/my disk");
    assert_eq!(mounts[0].mode, "ro");
    assert_eq!(mounts[1].mode, "rw");
}

#[test]
fn a_command_with_spaces_and_parentheses_parses() {
    let stat =
        parse_pid_stat("77 (a (b) c) R 1 77 77 0 -1 0 5 0 2 0 30 40 0 0 20 0 3 0 500 1000 9 0")
            .expect("parses");
    assert_eq!(stat.comm, "a (b) c");
    assert_eq!(stat.state, Some('R'));
    assert_eq!((stat.ppid, stat.minflt, stat.majflt), (1, 5, 2));
    assert_eq!((stat.utime, stat.stime, stat.threads), (30, 40, 3));
    assert_eq!((stat.starttime, stat.vsize, stat.rss), (500, 1000, 9));
}

#[test]
fn config_errors_name_the_place_and_the_fix() {
    let errors = messages(&config(
        "scrapers: {cpu: {metrics: {system.cpu.utilisation: {enabled: true}}}, nfs: ,
                    disk: {include: {devices: [sda]}}}",
    ));
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors.iter().any(|e| e
        .starts_with("scrapers.cpu.metrics.system.cpu.utilisation: unknown metric")
        && e.contains("did you mean `system.cpu.utilization`")));
    assert!(errors
        .iter()
        .any(|e| e.starts_with("scrapers.nfs:") && e.contains("not built")));
    assert!(errors
        .iter()
        .any(|e| e.starts_with("scrapers.disk.include.match_type:")));
    assert_eq!(
        messages(&config("collection_interval: 10s")),
        ["scrapers: must name at least one scraper: cpu, disk, filesystem, load, memory, network, paging, processes, process, system"]
    );
    let typo = llamacol_api::serde_yaml::from_str::<HostMetricsConfig>(
        "scrapers: {network: {include: {interface: [eth0], match_type: strict}}}",
    )
    .expect_err("typo");
    assert!(
        typo.to_string()
            .contains("unknown field `interface`, expected one of `interfaces`"),
        "{typo}"
    );
    let bad = messages(&config(
        "scrapers: {process: {include: {names: ['(['], match_type: regexp}}}",
    ));
    assert!(
        bad[0].starts_with("scrapers.process.include.names:"),
        "{bad:?}"
    );
    assert!(
        messages(&config("root_path: hostfs\nscrapers: {load: }"))[0].starts_with("root_path:")
    );
}

#[test]
fn filters_match_strictly_or_by_unanchored_pattern() {
    use super::filter::{MatchType, NameFilter};
    let strict = NameFilter::new(&["sda".into()], MatchType::Strict).expect("strict");
    assert!(strict.matches("sda") && !strict.matches("sda1"));
    let re = NameFilter::new(&["^loop".into(), "ram".into()], MatchType::Regexp).expect("re");
    assert!(re.matches("loop0") && re.matches("zram0") && !re.matches("sda"));
}

#[tokio::test]
async fn the_receiver_sends_a_cycle_after_its_initial_delay() {
    use llamacol_api::batch::Batch;
    use llamacol_pipeline::testing::Capture;
    let capture = Arc::new(Capture::default());
    let mut receiver = HostMetricsReceiver::new(
        "host_metrics".into(),
        config("collection_interval: 1h\ninitial_delay: 10ms\nscrapers: {load: , system: }"),
        OutcomeCounter::default(),
    );
    receiver.start(capture.clone()).await.expect("starts");
    for _ in 0..200 {
        if !capture.batches().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    receiver.shutdown().await.expect("stops");
    let batches = capture.batches();
    assert_eq!(batches.len(), 1, "one cycle");
    let Batch::Metrics(mut p) = batches[0].clone() else {
        panic!("metrics")
    };
    let request = p.message().expect("decoded").clone();
    assert!(!points(&request, "system.uptime").is_empty());
}

/// A scraper whose first cycle outlasts the deadline.
struct Slow {
    cycles: u32,
}

impl scrapers::HostScraper for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn scrape(&mut self, _cycle: &scrapers::Cycle, sink: &mut scrapers::Sink) {
        self.cycles += 1;
        if self.cycles == 1 {
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
        sink.host.push((
            "slow",
            vec![Metric {
                name: format!("cycle.{}", self.cycles),
                ..Default::default()
            }],
        ));
    }
}

#[tokio::test]
async fn a_cycle_abandoned_at_its_deadline_leaves_its_scrapers_to_the_next() {
    let mut collector = HostCollector {
        id: "host_metrics".into(),
        host: Host::new(ROOT),
        boot: 0,
        scrapers: Arc::new(std::sync::Mutex::new(vec![
            Box::new(Slow { cycles: 0 }) as Box<dyn scrapers::HostScraper>
        ])),
        logged: Default::default(),
    };
    // What the scrape controller does at the deadline: drop the cycle's future.
    let abandoned =
        tokio::time::timeout(std::time::Duration::from_millis(50), collector.scrape()).await;
    assert!(abandoned.is_err(), "the first cycle is late");
    let next = collector.scrape().await;
    let names: Vec<&str> = next.request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["cycle.2"], "the same scraper, its state kept");
}
