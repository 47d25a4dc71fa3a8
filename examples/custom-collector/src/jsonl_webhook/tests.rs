use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use llamacol_api::ErrorKind;
use llamacol_pipeline::testing::{check_exporter, free_port, sample_traces};

use super::*;

/// A webhook that answers with the statuses queued in `answers` (then 200), keeping
/// every body and content type.
#[derive(Default)]
struct Hook {
    answers: Mutex<Vec<(u16, Option<&'static str>)>>,
    bodies: Mutex<Vec<(String, String)>>,
    calls: AtomicUsize,
}

async fn serve(hook: Arc<Hook>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let hook = hook.clone();
            async move {
                hook.calls.fetch_add(1, Ordering::SeqCst);
                let next = hook
                    .answers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop();
                let (status, retry_after) = next.unwrap_or((200, None));
                if status == 200 {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    hook.bodies
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((kind, body));
                }
                let mut out = HeaderMap::new();
                if let Some(after) = retry_after {
                    out.insert("retry-after", after.parse().expect("header"));
                }
                (StatusCode::from_u16(status).expect("status"), out, "answer")
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    format!("http://{addr}/hook")
}

fn exporter(endpoint: &str) -> Arc<dyn Exporter> {
    let block: serde_yaml::Value =
        serde_yaml::from_str(&format!("{{endpoint: '{endpoint}', timeout: 2s}}")).expect("yaml");
    (factory().build)(
        &BuildContext::new("jsonl_webhook".parse_id(), vec![Signal::Traces]),
        &block,
    )
    .expect("build")
}

trait ParseId {
    fn parse_id(&self) -> llamacol_api::ComponentId;
}

impl ParseId for str {
    fn parse_id(&self) -> llamacol_api::ComponentId {
        llamacol_api::ComponentId::parse(self).expect("id")
    }
}

#[tokio::test]
async fn each_batch_is_one_otlp_json_line_and_statuses_are_classified() {
    let hook = Arc::new(Hook::default());
    let url = serve(hook.clone()).await;
    let e = exporter(&url);
    e.export(&mut Batch::from(sample_traces(1, 3)))
        .await
        .expect("sent");
    let (kind, body) = hook.bodies.lock().unwrap_or_else(PoisonError::into_inner)[0].clone();
    assert_eq!(kind, "application/x-ndjson");
    assert!(
        body.ends_with('\n') && body.matches('\n').count() == 1,
        "{body}"
    );
    let json: serde_json::Value = serde_json::from_str(body.trim_end()).expect("OTLP/JSON");
    assert_eq!(
        json["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    hook.answers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend([(400, None), (503, Some("3"))]);
    let busy = e
        .export(&mut Batch::from(sample_traces(1, 1)))
        .await
        .expect_err("503");
    assert_eq!(
        (busy.kind(), busy.retry_after()),
        (ErrorKind::Retryable, Some(Duration::from_secs(3)))
    );
    let bad = e
        .export(&mut Batch::from(sample_traces(1, 1)))
        .await
        .expect_err("400");
    assert_eq!(bad.kind(), ErrorKind::Permanent);

    let down = exporter(&format!("http://127.0.0.1:{}/hook", free_port()));
    let refused = down
        .export(&mut Batch::from(sample_traces(1, 1)))
        .await
        .expect_err("nothing listens");
    assert_eq!(refused.kind(), ErrorKind::Retryable);
}

#[tokio::test(flavor = "multi_thread")]
async fn jsonl_webhook_meets_the_component_contract() {
    let hook = Arc::new(Hook::default());
    let url = serve(hook.clone()).await;
    check_exporter(factory(), &format!("{{endpoint: '{url}'}}"))
        .await
        .expect("contract");
    assert!(
        hook.calls.load(Ordering::SeqCst) >= 3,
        "one signal each at least"
    );
}
