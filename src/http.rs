//! The HTTP interface (LIVE.md "HTTP"): `/metrics`, `/healthz`, `/readyz`,
//! `/v1/workers/{worker_id}` and `/v1/summary`. [`router`] builds the routes apart from
//! [`serve`], so the routes are tested without a socket.
//!
//! The path `/` and everything outside `/metrics`, `/healthz`, `/readyz` and `/v1/` is left
//! free for static pages: `router(state).merge(pages)`. No fallback is set here, because
//! axum refuses to merge two routers that both have one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, TEXT_CONTENT_TYPE};

/// How long [`serve`] waits for open requests after shutdown is requested. The monitor
/// must exit within 10 s of SIGTERM (LIVE.md "Signals") and the pipeline needs most of
/// that to flush and commit, so a slow HTTP client gets a few seconds, not more.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Read access to the live state for the JSON endpoints, implemented by the pipeline.
///
/// Both methods are called on the async runtime: they must answer from memory without
/// blocking (take a short lock, copy what is needed, release it; never wait on I/O).
pub trait Lookup: Send + Sync + 'static {
    /// The current state of one worker (SPEC section 6: online and working now, current
    /// episode, today's, this week's and this month's totals, time left before each limit,
    /// open violations), or `None` when the worker is unknown to this instance.
    fn worker(&self, id: &str) -> Option<Value>;
    /// Counts by platform and city.
    fn summary(&self) -> Value;
}

/// What the handlers share. Cheap to clone: three `Arc`s.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// Set by the pipeline once partitions are assigned and their state restored; cleared
    /// on revocation until the new assignment is restored.
    pub ready: Arc<AtomicBool>,
    pub lookup: Arc<dyn Lookup>,
}

/// The routes of the monitor.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/workers/{worker_id}", get(worker))
        .route("/v1/summary", get(summary))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then lets open requests
/// finish for at most [`SHUTDOWN_GRACE`] and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = server => result,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace_seconds = SHUTDOWN_GRACE.as_secs(), "HTTP requests still open after the shutdown grace; dropping them.");
            Ok(())
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, axum::Json(json!({ "status": "ready" }))).into_response()
    } else {
        let body = json!({
            "status": "not ready",
            "reason": "partitions not assigned yet or their state is still being restored",
        });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// Worker state is personal data: tell caches not to keep it.
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

async fn worker(State(state): State<AppState>, Path(worker_id): Path<String>) -> Response {
    match state.lookup.worker(&worker_id) {
        Some(body) => ([NO_STORE], axum::Json(body)).into_response(),
        None => {
            let body = json!({ "error": "unknown worker", "worker_id": worker_id });
            (StatusCode::NOT_FOUND, [NO_STORE], axum::Json(body)).into_response()
        }
    }
}

async fn summary(State(state): State<AppState>) -> Response {
    ([NO_STORE], axum::Json(state.lookup.summary())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    struct OneWorker;

    impl Lookup for OneWorker {
        fn worker(&self, id: &str) -> Option<Value> {
            (id == "w1").then(|| json!({ "worker_id": "w1", "working": true }))
        }
        fn summary(&self) -> Value {
            json!({ "meituan": { "weihai": { "online": 1, "working": 1 } } })
        }
    }

    fn state() -> AppState {
        AppState {
            metrics: Arc::new(Metrics::new()),
            ready: Arc::new(AtomicBool::new(false)),
            lookup: Arc::new(OneWorker),
        }
    }

    async fn fetch(app: &Router, uri: &str) -> (StatusCode, Option<String>, String) {
        let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn json_of(body: &str) -> Value {
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn metrics_in_text_format() {
        let state = state();
        state
            .metrics
            .alert_emitted("continuous_work", "violation", "meituan");
        let app = router(state);
        let (status, content_type, body) = fetch(&app, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4"));
        assert!(body.contains(
            r#"workhours_alerts_total{phase="violation",platform="meituan",rule="continuous_work"} 1"#
        ));
    }

    #[tokio::test]
    async fn healthz_is_ok() {
        let (status, _, body) = fetch(&router(state()), "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }

    #[tokio::test]
    async fn readiness_flips() {
        let state = state();
        let app = router(state.clone());
        let (status, content_type, body) = fetch(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(json_of(&body)["status"], "not ready");
        assert!(json_of(&body)["reason"].is_string());

        state.ready.store(true, Ordering::Release);
        let (status, _, body) = fetch(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["status"], "ready");

        state.ready.store(false, Ordering::Release);
        assert_eq!(
            fetch(&app, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn known_worker() {
        let (status, content_type, body) = fetch(&router(state()), "/v1/workers/w1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(
            json_of(&body),
            json!({ "worker_id": "w1", "working": true })
        );
    }

    #[tokio::test]
    async fn unknown_worker_is_a_json_404() {
        let (status, content_type, body) = fetch(&router(state()), "/v1/workers/nobody%201").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(
            json_of(&body),
            json!({ "error": "unknown worker", "worker_id": "nobody 1" })
        );
    }

    #[tokio::test]
    async fn summary_is_the_lookups() {
        let (status, _, body) = fetch(&router(state()), "/v1/summary").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json_of(&body)["meituan"]["weihai"]["online"], 1);
    }

    #[tokio::test]
    async fn root_is_left_free() {
        let (status, _, _) = fetch(&router(state()), "/").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let pages = Router::new().route("/", get(|| async { "pages" }));
        let (status, _, body) = fetch(&router(state()).merge(pages), "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "pages"));
    }

    #[tokio::test]
    async fn serve_returns_on_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router(state()), shutdown.clone()));
        shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }
}
