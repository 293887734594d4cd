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
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::metrics::{Metrics, TEXT_CONTENT_TYPE};

/// How long [`serve`] waits for open requests after shutdown is requested. The monitor
/// must exit within 10 s of SIGTERM (LIVE.md "Signals") and the pipeline needs most of
/// that to flush and commit, so a slow HTTP client gets a few seconds, not more.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// Longest time any request is handled; then 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for the pipeline to answer a worker look-up; then 504. A look-up wakes the
/// loop, which answers at its next iteration, and every 20 ms while a checkpoint waits on
/// the broker; while it waits for room in the producer's queue (the broker away) look-ups
/// are refused at once with 503 instead ([`Lookup::blocked`]).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a look-up waiting for its answer checks whether the pipeline blocked.
const BLOCKED_CHECK: Duration = Duration::from_millis(10);
/// `/v1/*` requests handled at once; more are refused with 503 at once. `/metrics`,
/// `/healthz` and `/readyz` are not counted, so that probes always get through.
pub const V1_CONCURRENCY: usize = 32;

/// Read access to the live state for the JSON endpoints, implemented by the pipeline. Both
/// methods answer at once and never block: a look-up is handed to the pipeline, which
/// answers on its own thread, and the summary is the last snapshot it published.
pub trait Lookup: Send + Sync + 'static {
    /// Hands a look-up of one worker to the pipeline: its answer is the worker's current
    /// state (SPEC section 6), or `None` when the worker is unknown to this instance. `None`
    /// here when the pipeline cannot take more look-ups now.
    fn worker(&self, id: &str) -> Option<oneshot::Receiver<Option<Value>>>;
    /// Whether the pipeline cannot answer look-ups now (it waits for room to send while the
    /// broker is away): a look-up is then refused at once rather than left to time out.
    fn blocked(&self) -> bool {
        false
    }
    /// Counts by platform and city, as last published.
    fn summary(&self) -> Value;
}

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub metrics: Arc<Metrics>,
    /// Set by the pipeline once partitions are assigned and their state restored; cleared
    /// on revocation until the new assignment is restored.
    pub ready: Arc<AtomicBool>,
    pub lookup: Arc<dyn Lookup>,
    /// The bearer token `/v1/*` requires (`http.token_file`), if any.
    pub token: Option<Arc<str>>,
    pub answer_timeout: Duration,
    v1_slots: Arc<Semaphore>,
}

impl AppState {
    pub fn new(
        metrics: Arc<Metrics>,
        ready: Arc<AtomicBool>,
        lookup: Arc<dyn Lookup>,
        token: Option<Arc<str>>,
    ) -> AppState {
        AppState {
            metrics,
            ready,
            lookup,
            token,
            answer_timeout: ANSWER_TIMEOUT,
            v1_slots: Arc::new(Semaphore::new(V1_CONCURRENCY)),
        }
    }
}

/// Largest token file read.
const MAX_TOKEN_BYTES: u64 = 64 << 10;

/// Reads `http.token_file`: `None` when the key is empty; an error when the file cannot be
/// read or holds no token. A relative path is looked up as the config's other files are:
/// beside the config file, then in the working directory.
pub fn load_token(config: &Config) -> anyhow::Result<Option<Arc<str>>> {
    let path = &config.http.token_file;
    if path.trim().is_empty() {
        return Ok(None);
    }
    // Named as the config's own errors name a value from the environment (the environment
    // wins over the file, so a value there is the one in force).
    const VAR: &str = "WORKHOURS_HTTP__TOKEN_FILE";
    let set_by = if std::env::var_os(VAR).is_some() {
        format!(" (set by {VAR})")
    } else {
        String::new()
    };
    let text =
        crate::files::read_text(&config.resolve_path(path), MAX_TOKEN_BYTES).map_err(|error| {
            let looked = config.looked_in(path);
            anyhow::anyhow!("cannot read http.token_file = {path}{set_by}: {error}{looked}")
        })?;
    // A byte-order mark, as some editors write, is not part of the token.
    let token = text.strip_prefix('\u{feff}').unwrap_or(&text).trim();
    if token.is_empty() {
        anyhow::bail!("http.token_file = {path}{set_by} holds no token");
    }
    // A token no client would send (two lines, a control character) is refused at start,
    // rather than locking `/v1` for every caller.
    if token.chars().any(char::is_control) {
        anyhow::bail!(
            "http.token_file = {path}{set_by} must hold one token on one line, with no control character (a tab included)"
        );
    }
    Ok(Some(token.into()))
}

/// The routes of the monitor.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/workers/{worker_id}", get(worker))
        .route("/v1/summary", get(summary))
        // Any other path under /v1 behind the same guard: without the token, a caller
        // learns nothing, not even which paths exist.
        .route("/v1", any(no_such_path))
        .route("/v1/", any(no_such_path))
        .route("/v1/{*rest}", any(no_such_path))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard_v1));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(v1)
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .with_state(state)
}

/// `routes` (all under `/v1/`, with their state applied) behind the same guard as `/v1/*`:
/// the bearer token when one is set, a slot among [`V1_CONCURRENCY`], [`REQUEST_TIMEOUT`].
/// The console's data (`crate::console`) is served this way.
pub fn guarded(state: &AppState, routes: Router) -> Router {
    routes
        .route_layer(middleware::from_fn_with_state(state.clone(), guard_v1))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
}

/// The console page, `page` (`/`), behind the token when one is set (SPEC section 8: "behind
/// `http.token_file` when set"): a request without it is answered 401, with the page as the
/// body. A browser sends no bearer token when it opens an address, and renders that body: the
/// page asks for the token and sends it with each of its data requests (`/v1/console/*`,
/// behind [`guarded`]).
pub fn guarded_page(state: &AppState, page: Router) -> Router {
    page.route_layer(middleware::from_fn_with_state(state.clone(), guard_page))
}

async fn guard_page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let refused = !authorized(&state, &request);
    let mut response = next.run(request).await;
    if refused {
        state.metrics.http_rejected("unauthorized");
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Limits on HTTP connections ([`serve_with`]); [`Limits::DEFAULT`] in production.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a client has to send a request's head (request line and headers), from the
    /// connection's start and again after each answer on a kept-alive connection; then the
    /// connection is closed. A half-sent request (a slowloris) cannot hold a connection.
    pub header_read_timeout: Duration,
    /// Connections open at once. One beyond is closed at once, unanswered, and counted in
    /// `workhours_http_rejected_requests_total{reason="overloaded"}`.
    pub max_connections: usize,
    /// How long a connection lives: then it finishes the answer it is writing (for at most
    /// [`Limits::header_read_timeout`] more) and closes. A client that sends requests but
    /// never reads the answers (so that they never finish) cannot hold a slot for longer.
    pub max_connection_age: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        header_read_timeout: Duration::from_secs(5),
        max_connections: 4096,
        max_connection_age: Duration::from_secs(60),
    };
}

/// How long accepting waits after an error such as too many open files, before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` with [`Limits::DEFAULT`] until `shutdown` is cancelled,
/// then lets open requests finish for at most [`SHUTDOWN_GRACE`] and returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    serve_with(listener, router, shutdown, metrics, Limits::DEFAULT).await
}

/// [`serve`] with the given limits. HTTP/1.1 only (no client of these endpoints needs 2).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    limits: Limits,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // A connection that failed before it was accepted concerns only itself;
                    // anything else (out of file descriptors) passes as connections close.
                    if !is_connection_error(&error) {
                        tracing::warn!(%error, "Cannot accept an HTTP connection; retrying.");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        while connections.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_rejected("overloaded");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
                () = tokio::time::sleep(limits.max_connection_age) => {
                    connection.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(limits.header_read_timeout, connection).await;
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_seconds = SHUTDOWN_GRACE.as_secs(),
            "HTTP requests still open after the shutdown grace; dropping them."
        );
        connections.abort_all();
    }
    Ok(())
}

/// Errors of one connection that `accept` reports (as hyper's and axum's servers judge them).
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// A JSON error with `status`, never cached.
fn error(status: StatusCode, body: Value) -> Response {
    (status, [NO_STORE], axum::Json(body)).into_response()
}

/// Every request: answered within [`REQUEST_TIMEOUT`], else 503.
async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            state.metrics.http_rejected("timeout");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "request timed out", "timeout_seconds": REQUEST_TIMEOUT.as_secs()}),
            )
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value; the scheme's name in any case and
/// one or more spaces after it (RFC 7235: `bearer` and `BEARER` are `Bearer`, `1*SP`).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    let start = token.iter().position(|&b| b != b' ')?;
    scheme
        .eq_ignore_ascii_case(b"Bearer ")
        .then_some(&token[start..])
}

/// `/v1/*`: the bearer token when one is set (a person's hours are personal data), then a
/// slot among [`V1_CONCURRENCY`].
async fn guard_v1(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !authorized(&state, &request) {
        state.metrics.http_rejected("unauthorized");
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "a bearer token is required (Authorization: Bearer <token>)"}),
        );
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let Ok(_slot) = state.v1_slots.clone().try_acquire_owned() else {
        state.metrics.http_rejected("overloaded");
        let mut response = error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "too many requests at once", "limit": V1_CONCURRENCY}),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

/// Whether `request` may pass: no token is set, or it carries `Authorization: Bearer <token>`.
fn authorized(state: &AppState, request: &Request) -> bool {
    state.token.as_ref().is_none_or(|token| {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| bearer(value.as_bytes()))
            .unwrap_or_default();
        same_token(given, token.as_bytes())
    })
}

/// Compares every byte whatever the first difference, so that the time taken says nothing
/// about how much of a guessed token was right.
fn same_token(given: &[u8], want: &[u8]) -> bool {
    let mut diff = given.len() ^ want.len();
    for (i, &byte) in want.iter().enumerate() {
        diff |= usize::from(given.get(i).copied().unwrap_or(0) ^ byte);
    }
    diff == 0
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// A path under `/v1` that names nothing (reached only past the guard).
async fn no_such_path() -> Response {
    error(StatusCode::NOT_FOUND, json!({"error": "no such path"}))
}

/// Liveness: touches nothing but the runtime, so it answers whatever Kafka or the pipeline do.
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

async fn worker(
    State(state): State<AppState>,
    worker_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Ok(Path(worker_id)) = worker_id else {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "the worker id in the path is not percent-encoded UTF-8"}),
        );
    };
    if !state.ready.load(Ordering::Acquire) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "not ready: partitions not assigned yet or their state is still being restored"}),
        );
    }
    let blocked = || {
        state.metrics.http_rejected("blocked");
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the pipeline is waiting for room to send while the broker is away; try again"}),
        )
    };
    if state.lookup.blocked() {
        return blocked();
    }
    let Some(mut answer) = state.lookup.worker(&worker_id) else {
        state.metrics.http_rejected("overloaded");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the pipeline has too many look-ups waiting; try again"}),
        );
    };
    // The answer, unless the pipeline blocks meanwhile (checked every 10 ms).
    let waited = tokio::time::timeout(state.answer_timeout, async {
        loop {
            match tokio::time::timeout(BLOCKED_CHECK, &mut answer).await {
                Ok(answered) => break Some(answered),
                Err(_) if state.lookup.blocked() => break None,
                Err(_) => {}
            }
        }
    })
    .await;
    let answered = match waited {
        Ok(Some(answered)) => Ok(answered),
        Ok(None) => return blocked(),
        Err(elapsed) => Err(elapsed),
    };
    match answered {
        Ok(Ok(Some(body))) => ([NO_STORE], axum::Json(body)).into_response(),
        Ok(Ok(None)) => error(
            StatusCode::NOT_FOUND,
            json!({ "error": "unknown worker", "worker_id": worker_id }),
        ),
        Ok(Err(_)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the pipeline is not running"}),
        ),
        Err(_) => {
            state.metrics.http_rejected("timeout");
            error(
                StatusCode::GATEWAY_TIMEOUT,
                json!({
                    "error": "the pipeline did not answer in time (busy, or waiting for room to send while the broker is away); try again",
                    "timeout_seconds": state.answer_timeout.as_secs_f64(),
                }),
            )
        }
    }
}

async fn summary(State(state): State<AppState>) -> Response {
    ([NO_STORE], axum::Json(state.lookup.summary())).into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    /// Answers `w1` at once; never answers `stuck` (the pipeline blocked on a broker).
    #[derive(Default)]
    struct OneWorker {
        stuck: std::sync::Mutex<Vec<oneshot::Sender<Option<Value>>>>,
    }

    impl Lookup for OneWorker {
        fn worker(&self, id: &str) -> Option<oneshot::Receiver<Option<Value>>> {
            let (reply, answer) = oneshot::channel();
            if id == "stuck" {
                self.stuck.lock().unwrap().push(reply);
            } else {
                let _ =
                    reply.send((id == "w1").then(|| json!({ "worker_id": "w1", "working": true })));
            }
            Some(answer)
        }
        fn summary(&self) -> Value {
            json!({ "meituan": { "weihai": { "online": 1, "working": 1 } } })
        }
    }

    fn state() -> AppState {
        let state = AppState::new(
            Arc::new(Metrics::new()),
            Arc::new(AtomicBool::new(true)),
            Arc::new(OneWorker::default()),
            None,
        );
        AppState {
            answer_timeout: Duration::from_millis(50),
            ..state
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
        assert_eq!(
            content_type.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
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
        state.ready.store(false, Ordering::Release);
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

    /// A path that is no UTF-8 once decoded is refused in JSON, as every other `/v1` error
    /// (it was axum's text/plain "Invalid URL").
    #[tokio::test]
    async fn an_undecodable_worker_id_is_a_json_400() {
        let (status, content_type, body) = fetch(&router(state()), "/v1/workers/%FF").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert!(json_of(&body)["error"].as_str().is_some());
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

    /// A request with `token` as its whole `Authorization` header; the status and JSON body.
    pub(crate) async fn fetch_with(
        app: &Router,
        uri: &str,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, token);
        }
        let response = app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// SPEC section 8: the console "behind `http.token_file` when set". Without the token the
    /// page is answered 401, with itself as the body (it asks for the token); its scripts stay
    /// open; with no token file it is open.
    #[tokio::test]
    async fn the_console_page_is_behind_the_token() {
        let guarded_state = AppState {
            token: Some("s3cret".into()),
            ..state()
        };
        for (state, token_set) in [(guarded_state, true), (state(), false)] {
            let app = router(state.clone())
                .merge(guarded_page(&state, crate::demo::api::index("console")))
                .merge(crate::demo::api::assets());
            for header in [None, Some("Bearer wrong"), Some("Bearer s3cret")] {
                let mut request = Request::builder().uri("/");
                if let Some(header) = header {
                    request = request.header(header::AUTHORIZATION, header);
                }
                let response = app
                    .clone()
                    .oneshot(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let want = if token_set && header != Some("Bearer s3cret") {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                };
                assert_eq!(response.status(), want, "{header:?}");
                assert_eq!(
                    response.headers().contains_key(header::WWW_AUTHENTICATE),
                    want == StatusCode::UNAUTHORIZED
                );
                let body = response.into_body().collect().await.unwrap().to_bytes();
                let body = String::from_utf8(body.to_vec()).unwrap();
                assert!(body.contains(r#"data-mode="console""#), "{header:?}");
            }
            assert_eq!(fetch(&app, "/assets/app.js").await.0, StatusCode::OK);
        }
    }

    #[tokio::test]
    async fn a_token_guards_v1_only() {
        let state = AppState {
            token: Some("s3cret".into()),
            ..state()
        };
        let app = router(state.clone());
        for uri in ["/v1/workers/w1", "/v1/summary"] {
            for header in [
                None,
                Some("Bearer wrong"),
                Some("Bearer s3cre"),
                Some("s3cret"),
            ] {
                let (status, body) = fetch_with(&app, uri, header).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} {header:?}");
                assert!(body["error"].is_string());
            }
            // The scheme's name is case-insensitive and any spaces may follow it (RFC 7235),
            // the token is case-sensitive.
            for header in [
                "Bearer s3cret",
                "bearer s3cret",
                "BEARER s3cret",
                "Bearer   s3cret",
            ] {
                let (status, _) = fetch_with(&app, uri, Some(header)).await;
                assert_eq!(status, StatusCode::OK, "{uri} {header}");
            }
            let (status, _) = fetch_with(&app, uri, Some("Bearer S3CRET")).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        }
        for open in ["/metrics", "/healthz", "/readyz"] {
            assert_ne!(
                fetch(&app, open).await.0,
                StatusCode::UNAUTHORIZED,
                "{open}"
            );
        }
        // A path under /v1 that names nothing tells a caller without the token nothing
        // either, also beside the console's routes (merged as `workhours run` does).
        let console = Router::new().route("/v1/console/status", get(|| async { "console" }));
        let app = router(state.clone()).merge(guarded(&state, console));
        for uri in [
            "/v1",
            "/v1/",
            "/v1/nothing",
            "/v1/workers/",
            "/v1/console/nothing",
            "/v1/a/b",
        ] {
            let (status, _) = fetch_with(&app, uri, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
            let (status, body) = fetch_with(&app, uri, Some("Bearer s3cret")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(body["error"], "no such path", "{uri}");
        }
        let (status, _) = fetch_with(&app, "/v1/console/status", Some("Bearer s3cret")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetch(&app, "/nothing").await.0, StatusCode::NOT_FOUND);
        assert!(same_token(b"abc", b"abc"));
        assert!(
            !same_token(b"abd", b"abc") && !same_token(b"abcd", b"abc") && !same_token(b"", b"abc")
        );
    }

    #[tokio::test]
    async fn a_pipeline_that_does_not_answer_times_out_cleanly() {
        let app = router(state());
        let (status, body) = fetch_with(&app, "/v1/workers/stuck", None).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert!(body["error"].as_str().unwrap().contains("did not answer"));
        // Meanwhile the probes answer.
        assert_eq!(fetch(&app, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn not_ready_answers_at_once_and_too_many_are_refused() {
        let state = state();
        state.ready.store(false, Ordering::Release);
        let app = router(state.clone());
        let (status, _) = fetch_with(&app, "/v1/workers/w1", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        state.ready.store(true, Ordering::Release);
        // Every slot taken: the next /v1 request is refused, the probes still answer.
        let slots: Vec<_> = (0..V1_CONCURRENCY)
            .map(|_| state.v1_slots.clone().try_acquire_owned().unwrap())
            .collect();
        let (status, body) = fetch_with(&app, "/v1/summary", None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["limit"], V1_CONCURRENCY);
        assert_eq!(fetch(&app, "/healthz").await.0, StatusCode::OK);
        drop(slots);
        assert_eq!(fetch(&app, "/v1/summary").await.0, StatusCode::OK);
    }

    /// Serves `limits` on a free port: its address, the metrics, the shutdown and the task.
    async fn serving(
        limits: Limits,
    ) -> (
        std::net::SocketAddr,
        Arc<Metrics>,
        CancellationToken,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let state = state();
        let metrics = state.metrics.clone();
        let task = tokio::spawn(serve_with(
            listener,
            router(state),
            shutdown.clone(),
            metrics.clone(),
            limits,
        ));
        (address, metrics, shutdown, task)
    }

    /// Opens a connection and sends `bytes` on it.
    async fn connect_and_send(
        address: std::net::SocketAddr,
        bytes: &[u8],
    ) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let _ = stream.write_all(bytes).await;
        stream
    }

    /// Reads what the server sends until it closes (a reset counts, with what came before
    /// it): `None` if it does not within 5 s.
    async fn until_closed(stream: &mut tokio::net::TcpStream) -> Option<String> {
        use tokio::io::AsyncReadExt;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        let _closed_or_reset = read.await.ok()?;
        Some(String::from_utf8_lossy(&answer).into_owned())
    }

    /// Opens `n` connections that each send half a request and nothing more.
    async fn hold_half_sent(address: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
        let mut held = Vec::new();
        for _ in 0..n {
            held.push(connect_and_send(address, HALF_SENT).await);
        }
        held
    }

    /// Stops a server of [`serving`] and checks that it returns cleanly within 5 s.
    async fn stop(shutdown: CancellationToken, task: tokio::task::JoinHandle<std::io::Result<()>>) {
        shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }

    const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n";
    const PROBE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    /// A client that never finishes its request head is cut off after the header timeout, so
    /// that connections held half-sent (a slowloris) cannot keep `/healthz` from answering.
    #[tokio::test]
    async fn half_sent_requests_are_cut_off() {
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 4,
            max_connection_age: Duration::from_secs(60),
        };
        let (address, _, shutdown, task) = serving(limits).await;
        let mut stalled = hold_half_sent(address, limits.max_connections).await;
        // Closed once the header timeout passes, with no answer or a 408.
        for stream in &mut stalled {
            let answer = until_closed(stream).await;
            let answer = answer.expect("a half-sent request was held open");
            assert!(
                answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
                "{answer}"
            );
        }
        // Then the probe gets through.
        let answer = until_closed(&mut connect_and_send(address, PROBE).await).await;
        assert!(answer.is_some_and(|answer| answer.starts_with("HTTP/1.1 200")));
        stop(shutdown, task).await;
    }

    /// Past the connection cap a new connection is closed at once, unanswered, and counted;
    /// once a connection closes, the next one is served.
    #[tokio::test]
    async fn connections_past_the_cap_are_closed_and_counted() {
        let limits = Limits {
            header_read_timeout: Duration::from_secs(60),
            max_connections: 4,
            max_connection_age: Duration::from_secs(60),
        };
        let (address, metrics, shutdown, task) = serving(limits).await;
        let mut stalled = hold_half_sent(address, limits.max_connections).await;
        let answer = until_closed(&mut connect_and_send(address, PROBE).await).await;
        assert_eq!(
            answer.as_deref(),
            Some(""),
            "the connection past the cap was not closed"
        );
        assert!(
            metrics
                .render()
                .contains(r#"workhours_http_rejected_requests_total{reason="overloaded"} 1"#)
        );
        drop(stalled.pop());
        // The slot is free once the server sees the close: probe until one is answered.
        let mut answered = false;
        for _ in 0..100 {
            let answer = until_closed(&mut connect_and_send(address, PROBE).await).await;
            if answer.is_some_and(|answer| answer.starts_with("HTTP/1.1 200")) {
                answered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(answered, "no slot came free");
        stop(shutdown, task).await;
    }

    /// A token file holds one token: a leading byte-order mark (as some editors write) is not
    /// part of it, and a file that no `Authorization` header could ever match (two lines, a
    /// control character) stops the start instead of locking `/v1` for every caller.
    #[test]
    fn a_token_file_holds_one_token_on_one_line() {
        let dir = std::env::temp_dir().join(format!("workhours-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let load = |contents: &[u8]| {
            let path = dir.join("token");
            std::fs::write(&path, contents).unwrap();
            let text = format!("[http]\ntoken_file = {:?}\n", path.display().to_string());
            let config = Config::parse(&text, Vec::new(), None).unwrap();
            load_token(&config).map_err(|error| error.to_string())
        };
        assert_eq!(load(b"tokA\r\n").unwrap().as_deref(), Some("tokA"));
        assert_eq!(
            load(b"\xEF\xBB\xBFtokA\n").unwrap().as_deref(),
            Some("tokA")
        );
        for contents in [
            &b"tokA\ntokB\n"[..],
            b"tok\tA",
            b"tok\x01A",
            b"\xEF\xBB\xBF\n",
        ] {
            let error = load(contents).unwrap_err();
            assert!(error.contains("http.token_file"), "{error}");
        }
        let error = load(b"tokA\ntokB\n").unwrap_err();
        assert!(error.contains("one line"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A client that sends requests but never reads the answers holds its connection only
    /// until the connection's age limit (and the time to finish its answer) has passed.
    #[tokio::test]
    async fn a_client_that_never_reads_is_cut_off_at_the_age_limit() {
        use tokio::io::AsyncWriteExt;
        let limits = Limits {
            header_read_timeout: Duration::from_millis(300),
            max_connections: 4,
            max_connection_age: Duration::from_millis(500),
        };
        let (address, _, shutdown, task) = serving(limits).await;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut stream = socket.connect(address).await.unwrap();
        // Far more answers than the socket buffers hold, none of them read.
        let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&request)).await;
        // Read only once the age limit has passed, then drain to the close.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let received = until_closed(&mut stream).await.unwrap_or_default();
        // Cut off: far fewer answers than requests came (all of them came before the limit).
        let answers = received.matches("HTTP/1.1 200").count();
        assert!(
            answers < 1000,
            "{answers} answers: the connection outlived its age limit"
        );
        stop(shutdown, task).await;
    }

    #[tokio::test]
    async fn serve_returns_on_shutdown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            listener,
            router(state()),
            shutdown.clone(),
            Arc::new(Metrics::new()),
        ));
        shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }
}
