//! The exporter against a fake Graphistry server that implements the REST endpoints it
//! uses as Graphistry documents them (and pygraphistry calls them): it issues JWTs with
//! an `exp` claim, checks the bearer token on every upload call, keeps each dataset's
//! JSON, and reads the Arrow bodies back. Failures are injected per test.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::{Array, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use base64::Engine;
use llamacol_api::attributes::{int, string};
use llamacol_api::otlp::collector::trace::v1::ExportTraceServiceRequest;
use llamacol_api::otlp::resource::v1::Resource;
use llamacol_api::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use llamacol_api::{Batch, ComponentId, NodeContext, Payload};
use llamacol_pipeline::testing::free_port;
use serde_json::{json, Value as Json};

use super::*;

#[derive(Default)]
struct Fake {
    /// Valid tokens.
    tokens: Vec<String>,
    issued: usize,
    /// Seconds from now the tokens of logins expire (an hour when 0; refreshed tokens
    /// always last an hour); negative: already expired.
    lifetime: i64,
    password_logins: usize,
    key_logins: usize,
    refreshes: usize,
    datasets: Vec<Json>,
    /// (dataset id, table) -> the table read back.
    tables: Vec<(String, String, RecordBatch)>,
    shares: Vec<Json>,
    /// Statuses to answer the next upload calls with, instead of serving them.
    fail_next: VecDeque<u16>,
    /// Every upload call fails with this status.
    fail_always: Option<u16>,
    /// The share API is missing: the share call answers 404 (a server without it).
    no_share_api: bool,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

fn issue(fake: &mut Fake, org: Option<&str>, lifetime: i64) -> Json {
    fake.issued += 1;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("now")
        .as_secs() as i64;
    let exp = now + if lifetime == 0 { 3600 } else { lifetime };
    let b64 = |v: Json| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.sig{}",
        b64(json!({"alg": "HS256", "typ": "JWT"})),
        b64(json!({"exp": exp, "user_id": 7})),
        fake.issued
    );
    fake.tokens.push(token.clone());
    let slug = org.unwrap_or("alice-personal");
    json!({"token": token, "active_organization": {"slug": slug, "is_found": true, "is_member": org.is_none_or(|o| o == "llm-team")}})
}

fn answer(status: u16, body: Json) -> (StatusCode, axum::Json<Json>) {
    (
        StatusCode::from_u16(status).expect("status"),
        axum::Json(body),
    )
}

/// The bearer token must be one the fake issued; an injected failure comes first.
fn gate(fake: &mut Fake, headers: &HeaderMap) -> Option<(StatusCode, axum::Json<Json>)> {
    if let Some(status) = fake.fail_always.or_else(|| fake.fail_next.pop_front()) {
        return Some(answer(
            status,
            json!({"success": false, "message": "injected"}),
        ));
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer {
        Some(t) if fake.tokens.iter().any(|k| k == t) => None,
        _ => Some(answer(
            401,
            json!({"detail": "Authentication credentials were not provided."}),
        )),
    }
}

async fn fake_graphistry() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = axum::Router::new()
        .route(
            "/api-token-auth/",
            post(|State(s): State<Shared>, axum::Json(body): axum::Json<Json>| async move {
                let mut fake = lock(&s);
                if body["username"] != "alice" || body["password"] != "s3cret" {
                    return answer(400, json!({"non_field_errors": ["Unable to log in with provided credentials."]}));
                }
                fake.password_logins += 1;
                let lifetime = fake.lifetime;
                answer(200, issue(&mut fake, body["org_name"].as_str(), lifetime))
            }),
        )
        .route(
            "/api/v2/auth/pkey/jwt/",
            get(|State(s): State<Shared>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let mut fake = lock(&s);
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("PersonalKey pk-id:pk-secret") {
                    return answer(401, json!({"detail": "Invalid personal key"}));
                }
                fake.key_logins += 1;
                let body: Json = serde_json::from_slice(&body).unwrap_or(Json::Null);
                let lifetime = fake.lifetime;
                answer(200, issue(&mut fake, body["org_name"].as_str(), lifetime))
            }),
        )
        .route(
            "/api/v2/auth/token/refresh",
            post(|State(s): State<Shared>, axum::Json(body): axum::Json<Json>| async move {
                let mut fake = lock(&s);
                let old = body["token"].as_str().unwrap_or_default().to_string();
                if !fake.tokens.contains(&old) {
                    return answer(401, json!({"detail": "Token is invalid or expired"}));
                }
                fake.refreshes += 1;
                answer(200, issue(&mut fake, None, 3600))
            }),
        )
        .route(
            "/api/v2/upload/datasets/",
            post(|State(s): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Json>| async move {
                let mut fake = lock(&s);
                if let Some(refusal) = gate(&mut fake, &headers) {
                    return refusal;
                }
                fake.datasets.push(body);
                let id = format!("ds{}", fake.datasets.len());
                answer(200, json!({"success": true, "data": {"dataset_id": id}}))
            }),
        )
        .route(
            "/api/v2/upload/datasets/{id}/{table}/arrow",
            post(|State(s): State<Shared>, UrlPath((id, table)): UrlPath<(String, String)>, headers: HeaderMap, body: axum::body::Bytes| async move {
                let mut fake = lock(&s);
                if let Some(refusal) = gate(&mut fake, &headers) {
                    return refusal;
                }
                let Ok(reader) = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(body.to_vec()), None) else {
                    return answer(400, json!({"success": false, "message": "not an Arrow file"}));
                };
                for batch in reader {
                    fake.tables.push((id.clone(), table.clone(), batch.expect("arrow batch")));
                }
                answer(200, json!({"success": true}))
            }),
        )
        .route(
            "/api/v2/share/link/",
            post(|State(s): State<Shared>, headers: HeaderMap, axum::Json(body): axum::Json<Json>| async move {
                let mut fake = lock(&s);
                if let Some(refusal) = gate(&mut fake, &headers) {
                    return refusal;
                }
                if fake.no_share_api {
                    return answer(404, json!({"detail": "Not found."}));
                }
                fake.shares.push(body);
                answer(200, json!({"success": true}))
            }),
        )
        .with_state(state.clone());
    let port = free_port();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("127.0.0.1:{port}"), state)
}

struct Under {
    exporter: Arc<dyn Exporter>,
    node: NodeContext,
}

fn exporter(yaml: &str) -> Under {
    let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
    let config: GraphistryConfig = llamacol_api::config::parse(&block).expect("parse");
    let issues = <GraphistryConfig as llamacol_api::config::ComponentConfig>::validate(&config);
    assert!(issues.is_empty(), "{issues:?}");
    let ctx = BuildContext::new(
        ComponentId::parse("graphistry").expect("id"),
        vec![Signal::Traces],
    );
    let node = ctx.node.clone();
    Under {
        exporter: build(&ctx, &block).expect("build"),
        node,
    }
}

fn uploading(server: &str, extra: &str) -> Under {
    exporter(&format!(
        "{{server: '{server}', protocol: http, username: alice, password: s3cret, window: 1h{extra}}}"
    ))
}

/// [delivered, failed, dropped] of a family.
fn counted(node: &NodeContext, family: TargetFamily) -> [u64; 3] {
    node.target_snapshot()
        .into_iter()
        .find(|(f, ..)| *f == family)
        .map(|(_, _, _, v)| v)
        .expect("counters")
}

fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, error: bool) -> Span {
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: name.into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        status: error.then(|| Status {
            code: 2,
            message: "boom".into(),
        }),
        ..Default::default()
    }
}

fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![string("service.name", service)],
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One trace: gateway's root (1) calls the model server's `chat` (2, an LLM span with
/// model and tokens, failed), which has a child (3).
fn llm_trace() -> Batch {
    let mut chat = span(9, 2, Some(1), "chat llama-3", true);
    chat.attributes = vec![
        string("gen_ai.request.model", "llama-3"),
        int("gen_ai.usage.input_tokens", 42),
        int("gen_ai.usage.output_tokens", 7),
    ];
    Batch::Traces(Payload::from_message(ExportTraceServiceRequest {
        resource_spans: vec![
            resource("gateway", vec![span(9, 1, None, "POST /v1/chat", false)]),
            resource(
                "llama-server",
                vec![chat, span(9, 3, Some(2), "decode", false)],
            ),
        ],
    }))
}

fn spans_batch(n: u8) -> Batch {
    let spans = (1..=n).map(|i| span(1, i, None, "s", false)).collect();
    Batch::Traces(Payload::from_message(ExportTraceServiceRequest {
        resource_spans: vec![resource("svc", spans)],
    }))
}

fn table<'a>(fake: &'a Fake, id: &str, which: &str) -> &'a RecordBatch {
    &fake
        .tables
        .iter()
        .find(|(d, t, _)| d == id && t == which)
        .unwrap_or_else(|| panic!("no {which} for {id}"))
        .2
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    let a = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("column {column}"))
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("utf8");
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

/// Starts the exporter and gives it one LLM trace (its window stays open).
async fn start_with_one_trace(under: &Under) {
    under.exporter.start().await.expect("start");
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("accepted");
}

/// One LLM trace, then shutdown, which closes the window.
async fn one_window(under: &Under) {
    start_with_one_trace(under).await;
    under.exporter.shutdown().await.expect("shutdown");
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some((*s).to_string())).collect()
}

#[tokio::test]
async fn a_window_is_uploaded_as_a_dataset_with_the_notebooks_bindings_and_arrow_tables() {
    let (server, fake) = fake_graphistry().await;
    let under = uploading(&server, "");
    start_with_one_trace(&under).await;
    assert!(lock(&fake).datasets.is_empty(), "the window is still open");
    under
        .exporter
        .shutdown()
        .await
        .expect("shutdown closes the window");

    let fake = lock(&fake);
    assert_eq!(fake.password_logins, 1);
    assert_eq!(fake.datasets.len(), 1);
    let dataset = &fake.datasets[0];
    assert_eq!(
        dataset["node_encodings"]["bindings"],
        json!({"node": "span_id", "node_title": "name", "node_size": "duration_ms", "node_color": "status"})
    );
    assert_eq!(
        dataset["edge_encodings"]["bindings"],
        json!({"source": "source", "destination": "destination", "edge_title": "trace_id"})
    );
    let color = &dataset["node_encodings"]["complex"]["default"]["pointColorEncoding"];
    assert_eq!(color["attribute"], "status");
    assert_eq!(color["variation"], "categorical");
    assert_eq!(
        color["mapping"]["categorical"]["fixed"],
        json!({"OK": "#4CAF50", "ERROR": "#F44336", "UNSET": "#9E9E9E"})
    );
    assert!(
        dataset["name"]
            .as_str()
            .expect("name")
            .starts_with("llamacol traces 20"),
        "{dataset}"
    );
    assert_eq!(dataset["metadata"]["apiversion"], "3");

    let nodes = table(&fake, "ds1", "nodes");
    assert_eq!(nodes.num_rows(), 3);
    assert_eq!(
        strings(nodes, "span_id"),
        some(&["0101010101010101", "0202020202020202", "0303030303030303"])
    );
    assert_eq!(
        strings(nodes, "service_name"),
        some(&["gateway", "llama-server", "llama-server"])
    );
    assert_eq!(strings(nodes, "status"), some(&["UNSET", "ERROR", "UNSET"]));
    assert_eq!(
        strings(nodes, "model"),
        vec![None, Some("llama-3".into()), None]
    );
    let tokens = nodes.column_by_name("input_tokens").expect("tokens");
    let tokens = tokens.as_any().downcast_ref::<Int64Array>().expect("int64");
    assert_eq!((tokens.is_null(0), tokens.value(1)), (true, 42));
    let duration = nodes.column_by_name("duration_ms").expect("duration");
    let duration = duration
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .expect("f64");
    assert!((duration.value(0) - 250.0).abs() < 1e-9);

    let edges = table(&fake, "ds1", "edges");
    assert_eq!(
        strings(edges, "source"),
        some(&["0101010101010101", "0202020202020202"])
    );
    assert_eq!(
        strings(edges, "destination"),
        some(&["0202020202020202", "0303030303030303"])
    );
    assert_eq!(
        strings(edges, "trace_id"),
        some(&["09090909090909090909090909090909"; 2])
    );

    assert_eq!(fake.shares.len(), 1);
    assert_eq!(fake.shares[0]["obj_pk"], "ds1");
    assert_eq!(fake.shares[0]["obj_type"], "dataset");
    assert_eq!(fake.shares[0]["mode"], "private");
    drop(fake);
    assert_eq!(counted(&under.node, super::DATASETS), [1, 0, 0]);
    assert_eq!(counted(&under.node, super::SPANS), [3, 0, 0]);
}

/// A Graphistry without the share API answers its call with 404: the dataset was
/// uploaded, so the graph is delivered (counted sent), not refused.
#[tokio::test]
async fn a_server_without_the_share_api_still_gets_its_graphs_delivered() {
    let (server, fake) = fake_graphistry().await;
    lock(&fake).no_share_api = true;
    let under = uploading(&server, "");
    one_window(&under).await;
    let fake = lock(&fake);
    assert_eq!((fake.datasets.len(), fake.shares.len()), (1, 0));
    drop(fake);
    assert_eq!(counted(&under.node, super::DATASETS), [1, 0, 0]);
    assert_eq!(counted(&under.node, super::SPANS)[2], 0, "nothing dropped");
}

#[tokio::test]
async fn a_personal_key_logs_in_and_the_organization_is_named_in_the_dataset() {
    let (server, fake) = fake_graphistry().await;
    let under = exporter(&format!(
        "{{server: '{server}', protocol: http, personal_key_id: pk-id, personal_key_secret: pk-secret, org_name: llm-team, privacy: {{mode: organization}}}}"
    ));
    one_window(&under).await;
    let fake = lock(&fake);
    assert_eq!((fake.key_logins, fake.password_logins), (1, 0));
    assert_eq!(fake.datasets[0]["org_name"], "llm-team");
    assert_eq!(fake.shares[0]["mode"], "organization");
}

#[tokio::test]
async fn a_token_the_server_stops_accepting_is_replaced_once() {
    let (server, fake) = fake_graphistry().await;
    let under = uploading(&server, ", max_spans: 3");
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("first window");
    lock(&fake).tokens.clear();
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("second window");
    under.exporter.shutdown().await.expect("shutdown");
    let fake = lock(&fake);
    assert_eq!(fake.datasets.len(), 2, "both windows uploaded");
    assert_eq!(fake.password_logins, 2, "one login, then one after the 401");
}

#[tokio::test]
async fn a_token_near_its_expiry_is_refreshed_before_use() {
    let (server, fake) = fake_graphistry().await;
    // The login's token has expired by its second use: refreshed, not a new login.
    lock(&fake).lifetime = -10;
    let under = uploading(&server, ", max_spans: 3");
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("first window");
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("second window");
    under.exporter.shutdown().await.expect("shutdown");
    let fake = lock(&fake);
    assert_eq!(fake.datasets.len(), 2);
    assert_eq!((fake.password_logins, fake.refreshes), (1, 1));
}

#[tokio::test]
async fn refused_credentials_are_a_permanent_error_and_the_spans_are_counted_as_dropped() {
    let (server, fake) = fake_graphistry().await;
    let under = exporter(&format!(
        "{{server: '{server}', protocol: http, username: alice, password: wrong-password, max_spans: 3}}"
    ));
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("accepted into the window");
    under.exporter.shutdown().await.expect("shutdown");
    assert!(lock(&fake).datasets.is_empty());
    assert_eq!(counted(&under.node, super::DATASETS), [0, 0, 1]);
    assert_eq!(counted(&under.node, super::SPANS), [0, 0, 3]);
}

#[tokio::test]
async fn server_errors_and_429_are_retried_and_the_window_delivered_later() {
    let (server, fake) = fake_graphistry().await;
    lock(&fake).fail_next = VecDeque::from([503, 429]);
    let under = uploading(&server, ", max_spans: 3");
    under
        .exporter
        .export(&mut llm_trace())
        .await
        .expect("accepted");
    assert!(lock(&fake).datasets.is_empty(), "503: the window is kept");
    under
        .exporter
        .shutdown()
        .await
        .expect("shutdown delivers what waits");
    assert_eq!(
        lock(&fake).datasets.len(),
        1,
        "delivered on the third attempt"
    );
    assert_eq!(counted(&under.node, super::DATASETS), [1, 2, 0]);
    assert_eq!(counted(&under.node, super::SPANS), [3, 0, 0]);
}

#[tokio::test]
async fn max_spans_closes_full_windows_and_counts_what_went_to_the_next() {
    let (server, fake) = fake_graphistry().await;
    let under = uploading(&server, ", max_spans: 3");
    under
        .exporter
        .export(&mut spans_batch(7))
        .await
        .expect("accepted");
    assert_eq!(
        lock(&fake).datasets.len(),
        2,
        "two full windows went at once"
    );
    under.exporter.shutdown().await.expect("shutdown");
    let fake = lock(&fake);
    let rows: Vec<usize> = ["ds1", "ds2", "ds3"]
        .iter()
        .map(|id| table(&fake, id, "nodes").num_rows())
        .collect();
    assert_eq!(rows, [3, 3, 1]);
    drop(fake);
    // 4 spans left after the first window closed, 1 after the second.
    assert_eq!(counted(&under.node, super::SPANS), [7, 5, 0]);
}

#[tokio::test]
async fn while_windows_wait_for_a_down_server_new_batches_stay_in_the_queue() {
    let (server, fake) = fake_graphistry().await;
    lock(&fake).fail_always = Some(503);
    let under = uploading(&server, ", max_spans: 1");
    for _ in 0..MAX_WAITING {
        under
            .exporter
            .export(&mut spans_batch(1))
            .await
            .expect("accepted");
    }
    let refused = under
        .exporter
        .export(&mut spans_batch(1))
        .await
        .expect_err("full");
    assert!(refused.is_retryable(), "{refused}");
    assert!(
        refused.to_string().contains("waiting for upload"),
        "{refused}"
    );
    under.exporter.shutdown().await.expect("shutdown");
    assert_eq!(
        counted(&under.node, super::SPANS)[2],
        MAX_WAITING as u64,
        "what waited at shutdown is counted as dropped"
    );
}

#[tokio::test]
async fn offline_dir_gets_nodes_edges_and_bindings_per_window() {
    let dir = tempfile::tempdir().expect("tmp");
    let under = exporter(&format!(
        "{{offline_dir: '{}', edges: service, name: 'gpu-node {{spans}} spans'}}",
        dir.path().display()
    ));
    one_window(&under).await;
    let windows: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(windows.len(), 1, "{windows:?}");
    let read = |name: &str| -> RecordBatch {
        let bytes = std::fs::read(windows[0].join(name)).expect("file");
        let mut reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .expect("arrow file");
        reader.next().expect("one batch").expect("batch")
    };
    let nodes = read("nodes.arrow");
    // 3 spans and a node per service.
    assert_eq!(
        strings(&nodes, "node_type"),
        some(&["span", "span", "span", "service", "service"])
    );
    let edges = read("edges.arrow");
    assert_eq!(
        strings(&edges, "edge_type"),
        some(&["child_of", "child_of", "calls"])
    );
    assert_eq!(strings(&edges, "source")[2], Some("service:gateway".into()));
    assert_eq!(
        strings(&edges, "destination")[2],
        Some("service:llama-server".into())
    );
    let bindings: Json =
        serde_json::from_slice(&std::fs::read(windows[0].join("bindings.json")).expect("json"))
            .expect("json");
    assert_eq!(bindings["name"], "gpu-node 3 spans");
    assert_eq!(bindings["node_encodings"]["bindings"]["node"], "span_id");
    assert_eq!(counted(&under.node, super::DATASETS), [1, 0, 0]);
}

/// Every span's node repeats its service name: a 1 MiB `service.name` on 1,100 spans
/// (1.1 GiB of copies from a request of about 1 MiB) is refused as a permanent error
/// naming the cause, and no window is written; 100 such spans are taken.
#[tokio::test]
async fn a_service_name_repeated_past_the_bound_refuses_the_request() {
    let dir = tempfile::tempdir().expect("tmp");
    let under = exporter(&format!("{{offline_dir: '{}'}}", dir.path().display()));
    under.exporter.start().await.expect("start");
    let service = "s".repeat(1 << 20);
    let request = |spans: u8, copies: usize| {
        let spans = (0..copies).map(|n| span(n as u8, spans, None, "op", false));
        Batch::Traces(Payload::from_message(ExportTraceServiceRequest {
            resource_spans: vec![resource(&service, spans.collect())],
        }))
    };
    let error = under
        .exporter
        .export(&mut request(1, 1_100))
        .await
        .expect_err("refused");
    assert_eq!(error.kind(), llamacol_api::ErrorKind::Permanent);
    assert!(
        error
            .to_string()
            .contains("service name repeated on every span"),
        "{error}"
    );
    under
        .exporter
        .export(&mut request(2, 100))
        .await
        .expect("taken");
    under.exporter.shutdown().await.expect("shutdown");
    let windows = std::fs::read_dir(dir.path()).expect("dir").count();
    assert_eq!(windows, 1, "only the 100 spans' window");
    assert_eq!(counted(&under.node, super::SPANS), [100, 0, 0]);
}

#[test]
fn config_errors_name_the_key_and_the_fix_and_secrets_never_print() {
    let issues = |yaml: &str| {
        let block: Value = llamacol_api::serde_yaml::from_str(yaml).expect("yaml");
        let config: GraphistryConfig = llamacol_api::config::parse(&block).expect("parse");
        let out: Vec<String> =
            <GraphistryConfig as llamacol_api::config::ComponentConfig>::validate(&config)
                .into_iter()
                .map(|i| format!("{i:?}"))
                .collect();
        (config, out)
    };
    let (_, none) = issues("{}");
    assert!(none[0].contains("needs credentials"), "{none:?}");
    let (_, both) =
        issues("{username: a, password: b, personal_key_id: c, personal_key_secret: d}");
    assert!(both[0].contains("not both"), "{both:?}");
    let (_, half) = issues("{username: a}");
    assert!(half[0].contains("go together"), "{half:?}");
    let (_, offline) = issues("{offline_dir: /tmp/x, username: a, password: b}");
    assert!(
        offline[0].contains("credentials are not used"),
        "{offline:?}"
    );
    let (_, name) = issues("{offline_dir: /tmp/x, name: '{model}'}");
    assert!(name[0].contains("unknown placeholder"), "{name:?}");
    let (config, _) = issues("{username: alice, password: hunter2, personal_key_secret: pks-9}");
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("pks-9"),
        "{shown}"
    );
}

#[test]
fn jwt_expiry_is_read_from_the_exp_claim() {
    let b64 = |v: Json| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.x",
        b64(json!({"alg": "HS256"})),
        b64(json!({"exp": 1_800_000_000u64}))
    );
    assert_eq!(
        client::expiry(&token),
        Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000))
    );
    assert_eq!(client::expiry("not-a-jwt"), None);
}
