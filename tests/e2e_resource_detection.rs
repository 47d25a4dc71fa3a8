//! The `resource_detection` processor in the real binary: every detector against what it
//! reads (this machine for `env` and `system`; fakes of the documented EC2, GCE and Azure
//! metadata services and of the Docker Engine API, which cannot run here), and the real
//! OpenTelemetry Collector's `resource_detection` run on the same machine and the same
//! fakes, whose resource attributes llamacol must reproduce key for key and value for
//! value (Azure's endpoint cannot be moved in the Collector: checked against the sample).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::otelcol::{Otelcol, QUIET_TELEMETRY};
use common::{arr, cloud_metadata, lines, post_example_trace, Collector};

/// The resource attributes of the first resource a file exporter wrote to `path`: string
/// values as they are, others as their OTLP/JSON.
fn resource(path: &std::path::Path, who: &str) -> BTreeMap<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(line) = lines(path).into_iter().next() {
            let first = &arr(&line["resourceSpans"])[0];
            return arr(&first["resource"]["attributes"])
                .iter()
                .map(|a| {
                    let value = &a["value"];
                    let text = value["stringValue"]
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_string);
                    (a["key"].as_str().unwrap_or_default().to_string(), text)
                })
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "{who} wrote nothing to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One llamacol with an OTLP receiver, `processors` (YAML of the `processors:` block,
/// the processor named `resource_detection`) and a file exporter; posts one trace and
/// returns the resource it was written with.
fn llamacol_resource(processor: &str, env: &[(&str, String)]) -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:LLAMACOL_OTLP_HTTP_ENDPOINT}}\n\
             processors:\n  resource_detection:\n{processor}\
             exporters:\n  file:\n    path: ${{env:LLAMACOL_FILE_PATH}}\n\
             service:\n  telemetry:\n    admin:\n      endpoint: ${{env:LLAMACOL_ADMIN_ENDPOINT}}\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [resource_detection]\n      exporters: [file]\n"
        ),
    )
    .expect("write config");
    let collector = Collector::launch(&[&config.display().to_string()], env);
    post_example_trace(collector.http);
    let found = resource(&collector.file, "llamacol");
    drop(collector);
    found
}

/// The same through the real Collector.
fn otelcol_resource(processor: &str, env: &[(&str, String)]) -> BTreeMap<String, String> {
    let mut otelcol = Otelcol::start(
        &format!(
            "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: ${{env:OTELCOL_HTTP}}\n      grpc:\n        endpoint: ${{env:OTELCOL_GRPC}}\n\
             processors:\n  resource_detection:\n{processor}\
             exporters:\n  file:\n    path: ${{env:OTELCOL_FILE}}\n\
             service:\n{QUIET_TELEMETRY}  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [resource_detection]\n      exporters: [file]\n"
        ),
        env,
    );
    post_example_trace(otelcol.http);
    let found = resource(&otelcol.file, "otelcol");
    otelcol.terminate();
    found
}

/// Only what a detector added: the example trace's own resource attributes left out.
fn detected(mut resource: BTreeMap<String, String>) -> BTreeMap<String, String> {
    resource.remove("service.name");
    resource
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn ec2_reads_the_identity_document_through_an_imdsv2_session() {
    let port = cloud_metadata::ec2();
    let got = llamacol_resource(
        &format!("    detectors: [ec2]\n    ec2:\n      endpoint: http://127.0.0.1:{port}\n      tags: ['^team$']\n      tags_from_imds: true\n"),
        &[],
    );
    assert_eq!(
        detected(got),
        expect(&[
            ("cloud.provider", "aws"),
            ("cloud.platform", "aws_ec2"),
            ("cloud.region", "us-west-2"),
            ("cloud.account.id", "123456789012"),
            ("cloud.availability_zone", "us-west-2b"),
            ("host.id", "i-1234567890abcdef0"),
            ("host.image.id", "ami-5fb8c835"),
            ("host.type", "t2.micro"),
            ("host.name", "ip-10-158-112-84.us-west-2.compute.internal"),
            ("ec2.tag.team", "inference"),
        ])
    );
}

#[test]
fn gcp_reads_a_compute_engine_instance() {
    let port = cloud_metadata::gce();
    let got = llamacol_resource(
        &format!("    detectors: [gcp]\n    gcp:\n      endpoint: http://127.0.0.1:{port}\n      resource_attributes:\n        gcp.gce.instance.hostname: {{enabled: true}}\n"),
        &[],
    );
    assert_eq!(
        detected(got),
        expect(&[
            ("cloud.provider", "gcp"),
            ("cloud.account.id", "my-sample-project-191923"),
            ("cloud.platform", "gcp_compute_engine"),
            ("cloud.availability_zone", "us-central1-a"),
            ("cloud.region", "us-central1"),
            (
                "host.type",
                "projects/329880894298/machineTypes/a2-highgpu-1g"
            ),
            ("host.id", "4520031799277581759"),
            ("host.name", "gpu-node-7"),
            (
                "gcp.gce.instance.hostname",
                "gpu-node-7.us-central1-a.c.my-sample-project-191923.internal"
            ),
            ("gcp.gce.instance_group_manager.name", "gpu-pool"),
            ("gcp.gce.instance_group_manager.zone", "us-central1-a"),
        ])
    );
}

#[test]
fn azure_reads_the_documented_compute_sample() {
    let port = cloud_metadata::azure();
    let got = llamacol_resource(
        &format!("    detectors: [azure]\n    azure:\n      endpoint: http://127.0.0.1:{port}\n      tags: ['^foo$']\n"),
        &[],
    );
    assert_eq!(
        detected(got),
        expect(&[
            ("cloud.provider", "azure"),
            ("cloud.platform", "azure_vm"),
            ("host.name", "examplevmname"),
            ("cloud.region", "westus"),
            ("host.id", "02aab8a4-74ef-476e-8182-f6d2ba4166a6"),
            ("cloud.account.id", "xxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxx"),
            ("azure.vm.name", "examplevmname"),
            ("azure.vm.size", "Standard_A3"),
            ("azure.vm.scaleset.name", "crpteste9vflji9"),
            ("azure.resourcegroup.name", "macikgo-test-may-23"),
            ("azure.tag.foo", "bar"),
        ])
    );
}

#[test]
fn docker_reads_the_daemon_and_this_container() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = cloud_metadata::docker(dir.path(), this_hostname());
    let got = llamacol_resource(
        &format!("    detectors: [docker]\n    docker:\n      endpoint: unix://{}\n      resource_attributes:\n        container.name: {{enabled: true}}\n        container.image.name: {{enabled: true}}\n", socket.display()),
        &[],
    );
    assert_eq!(
        detected(got),
        expect(&[
            ("os.type", "linux"),
            ("host.name", "gpu-node-7"),
            ("container.name", "/llamacol-agent"),
            ("container.image.name", "ghcr.io/llamacol/llamacol:0.1.0"),
        ])
    );
}

#[test]
fn off_the_cloud_the_cloud_detectors_add_nothing_and_the_start_goes_on() {
    // A port nothing listens on: connection refused, as on a machine that is not on EC2.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let got = llamacol_resource(
        &format!("    detectors: [ec2, gcp, azure]\n    ec2: {{endpoint: 'http://127.0.0.1:{closed}'}}\n    gcp: {{endpoint: 'http://127.0.0.1:{closed}'}}\n    azure: {{endpoint: 'http://127.0.0.1:{closed}'}}\n"),
        &[],
    );
    assert_eq!(detected(got), BTreeMap::new());
}

#[test]
fn a_malformed_variable_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n\
         processors:\n  resource_detection:\n    detectors: [env]\n    timeout: 2s\n\
         exporters:\n  debug: {}\n\
         service:\n  telemetry:\n    admin:\n      endpoint: 127.0.0.1:0\n  pipelines:\n    traces:\n      receivers: [otlp]\n      processors: [resource_detection]\n      exporters: [debug]\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llamacol"))
        .args(["run", "-c", &config.display().to_string()])
        .env("OTEL_RESOURCE_ATTRIBUTES", "extra=chars, a")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must not start: {stderr}");
    assert!(
        stderr.contains("resource_detection")
            && stderr.contains(r#"invalid resource format, invalid text: \" a\""#)
            || stderr.contains(r#"invalid resource format, invalid text: " a""#),
        "{stderr}"
    );
}

/// Environment for both collectors: the variable the Collector's own test parses, and the
/// fakes where the Collector's clients look for them (the AWS SDK's and Google's
/// metadata clients read these variables; llamacol's `endpoint` keys say the same).
fn same_world(
    dir: &std::path::Path,
) -> (Vec<(&'static str, String)>, u16, u16, std::path::PathBuf) {
    let ec2 = cloud_metadata::ec2();
    let gce = cloud_metadata::gce();
    let docker = cloud_metadata::docker(dir, this_hostname());
    let env = vec![
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            r#" example.org/test-1 =  test $ %3A \" ,  Abc=Def  "#.to_string(),
        ),
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{ec2}"),
        ),
        ("GCE_METADATA_HOST", format!("127.0.0.1:{gce}")),
        ("DOCKER_HOST", format!("unix://{}", docker.display())),
    ];
    (env, ec2, gce, docker)
}

/// This machine's host name: what Docker knows a container by.
fn this_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_string()
}

#[test]
#[ignore = "needs otelcol: run scripts/test"]
fn every_detector_agrees_with_the_real_collector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (env, ec2, gce, docker) = same_world(dir.path());
    let all_system: String = [
        "host.id",
        "host.arch",
        "os.description",
        "os.name",
        "os.version",
        "os.build.id",
        "host.cpu.vendor.id",
        "host.cpu.family",
        "host.cpu.model.id",
        "host.cpu.model.name",
        "host.cpu.stepping",
        "host.cpu.cache.l2.size",
        "host.ip",
        "host.mac",
        "host.interface",
    ]
    .iter()
    .map(|k| format!("        {k}: {{enabled: true}}\n"))
    .collect();
    let all_system = format!("      resource_attributes:\n{all_system}");
    let cases = [
        ("env".to_string(), "    detectors: [env]\n".to_string(), String::new()),
        ("system with its defaults".to_string(), "    detectors: [system]\n".to_string(), String::new()),
        (
            "system, every attribute, os host name".to_string(),
            format!("    detectors: [system]\n    system:\n      hostname_sources: [os]\n{all_system}"),
            String::new(),
        ),
        (
            "ec2".to_string(),
            "    detectors: [ec2]\n".to_string(),
            format!("    ec2:\n      endpoint: http://127.0.0.1:{ec2}\n"),
        ),
        (
            "gcp".to_string(),
            "    detectors: [gcp]\n    gcp:\n      resource_attributes:\n        gcp.gce.instance.hostname: {enabled: true}\n        gcp.gce.instance.name: {enabled: true}\n".to_string(),
            format!("      endpoint: http://127.0.0.1:{gce}\n"),
        ),
        (
            "docker".to_string(),
            "    detectors: [docker]\n    docker:\n      resource_attributes:\n        container.name: {enabled: true}\n        container.image.name: {enabled: true}\n".to_string(),
            format!("      endpoint: unix://{}\n", docker.display()),
        ),
        (
            "env before system, override false".to_string(),
            "    detectors: [env, system]\n    override: false\n".to_string(),
            String::new(),
        ),
    ];
    for (name, shared, ours_only) in cases {
        let ours_block = if name == "gcp" || name == "docker" {
            shared.replacen(
                &format!("    {name}:\n"),
                &format!("    {name}:\n{ours_only}"),
                1,
            )
        } else {
            format!("{shared}{ours_only}")
        };
        let mut ours = llamacol_resource(&ours_block, &env);
        let mut theirs = otelcol_resource(&shared, &env);
        if name == "docker" {
            // Deliberate difference: the Collector writes the inspection's top-level
            // `Image` (the image id) as `container.image.name`; llamacol writes the image's
            // name (`Config.Image`), what the semantic conventions define.
            assert_eq!(
                theirs.remove("container.image.name").as_deref(),
                Some("sha256:3b0fd22fa2d8b4d3f8c2c8c0f1a6b1e5d2f3c4b5a6978877665544332211aabb")
            );
            assert_eq!(
                ours.remove("container.image.name").as_deref(),
                Some("ghcr.io/llamacol/llamacol:0.1.0")
            );
        }
        assert_eq!(
            ours, theirs,
            "{name}: llamacol (left) and the Collector (right) differ"
        );
    }
}
