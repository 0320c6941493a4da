//! The routes: pages under `/dashboard`, the JSON API under `/api/v1`, and the guard every
//! one of them passes (rate limits, sign-in, the access audit log).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use minijinja::context;
use minijinja::value::Value;
use serde::{Deserialize, Serialize};
use sightline_identity::Presented;

use crate::actions::{self, Act, Mark};
use crate::auth::{Denied, Principal, Role};
use crate::charts;
use crate::cursor::{self, Cursor};
use crate::export::{self, ExportQuery};
use crate::range::{Range, DAY_MS};
use crate::render::{CSS, LIVE_JS};
use crate::scope::Scope;
use crate::store::{AuditRow, IncidentFilter};
use crate::{now_ms, App, Error, Result};

type Shared = Arc<App>;

/// Every route.
pub fn router(app: Shared) -> Router {
    let guarded = Router::new()
        .route("/dashboard", get(overview_page))
        .route("/dashboard/users/{user}", get(user_page))
        .route("/dashboard/conversations/{id}", get(conversation_page))
        .route("/dashboard/teams/{team}", get(team_page))
        .route("/dashboard/incidents", get(incidents_page))
        .route("/dashboard/incidents/{id}", get(incident_page))
        .route("/dashboard/incidents/{id}/actions", post(incident_form))
        .route("/dashboard/capabilities", get(capabilities_page))
        .route("/dashboard/rules", get(rules_page))
        .route("/dashboard/audit", get(audit_page))
        .route("/dashboard/feedback", post(feedback_form))
        .route("/api/v1/me", get(me))
        .route("/api/v1/overview", get(overview_api))
        .route("/api/v1/users/{user}", get(user_api))
        .route(
            "/api/v1/users/{user}/conversations",
            get(user_conversations_api),
        )
        .route("/api/v1/conversations/{id}", get(conversation_api))
        .route("/api/v1/teams/{team}", get(team_api))
        .route("/api/v1/incidents", get(incidents_api))
        .route("/api/v1/incidents/{id}", get(incident_api))
        .route("/api/v1/incidents/{id}/actions", post(incident_api_action))
        .route("/api/v1/capabilities", get(capabilities_api))
        .route("/api/v1/rules", get(rules_api))
        .route("/api/v1/audit", get(audit_api))
        .route("/api/v1/feedback", post(feedback_api))
        .route("/api/v1/export", get(export_api))
        .route("/api/v1/live", get(live_api))
        .layer(middleware::from_fn_with_state(app.clone(), guard));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route(
            "/dashboard/static/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], CSS) }),
        )
        .route(
            "/dashboard/static/live.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], LIVE_JS) }),
        )
        .merge(guarded)
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Pages run no inline script and load nothing from elsewhere.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// What kind of access a request is, for the audit log.
fn action_of(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (_, "/api/v1/export") => "export",
        (_, "/api/v1/live") => "live",
        (&Method::POST, p) if p.ends_with("/actions") => "incident",
        (&Method::POST, p) if p.ends_with("/feedback") => "feedback",
        (_, p) if p.starts_with("/api/") => "api",
        _ => "view",
    }
}

/// The audit result a status stands for.
fn result_of(status: u16) -> &'static str {
    match status {
        200..=399 => "ok",
        401 => "unauthenticated",
        403 | 404 => "denied",
        429 => "rate_limited",
        400..=499 => "bad_request",
        _ => "error",
    }
}

/// Names the caller in an audit entry.
fn attribute(entry: &mut AuditRow, who: &Principal) {
    entry.tenant_id = who.tenant_label().to_string();
    entry.user_id = who.user.clone();
    entry.role = who.role.as_str().into();
}

/// Records how a request was answered in its audit entry.
fn finish(entry: &mut AuditRow, response: &Response) {
    entry.status = response.status().as_u16();
    entry.result = result_of(entry.status).into();
}

/// A new audit entry for a request from `peer`.
fn entry_for(req: &Request, peer: std::net::IpAddr) -> AuditRow {
    let uri = req.uri();
    AuditRow {
        audit_id: uuid::Uuid::now_v7().to_string(),
        ts_ms: now_ms().max(0) as u64,
        tenant_id: String::new(),
        user_id: String::new(),
        role: String::new(),
        action: action_of(req.method(), uri.path()).into(),
        method: req.method().to_string(),
        path: uri
            .path_and_query()
            .map_or(uri.path(), |p| p.as_str())
            .chars()
            .take(1000)
            .collect(),
        status: 0,
        result: String::new(),
        peer: peer.to_string(),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect(),
    }
}

/// A state-changing request a browser says came from another site (`Sec-Fetch-Site`).
fn cross_site(req: &Request) -> bool {
    req.method() != Method::GET
        && req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// Whether a request carries an API key or a token (a guess, when it does not verify).
fn presents_credential(app: &App, headers: &HeaderMap) -> bool {
    sightline_identity::credential(headers).is_some()
        || app
            .config
            .identity
            .jwt
            .as_ref()
            .is_some_and(|j| headers.contains_key(j.header.as_str()))
}

/// The caller: by API key or token when the request carries one, else by session cookie.
fn authenticate(
    app: &App,
    headers: &HeaderMap,
    peer: std::net::IpAddr,
) -> Result<Principal, Denied> {
    if !presents_credential(app, headers) {
        if let Some(who) = headers
            .get(header::COOKIE)
            .and_then(|c| c.to_str().ok())
            .and_then(|c| app.sessions.principal(c))
        {
            return Ok(who);
        }
    }
    let presented = Presented {
        headers,
        peer: Some(peer),
    };
    let resolved = app
        .auth
        .resolve(&presented)
        .map_err(|_| Denied::Unauthenticated("send an API key or a token, or sign in at /login"))?;
    Principal::from_identity(resolved.identity)
}

/// Rate limits, sign-in and the audit entry, around every guarded request. The handler runs
/// as a task of its own, so its audit entry is written even if the client goes away, and a
/// panic is answered with 500 and audited.
async fn guard(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let ip = peer.ip();
    let api = req.uri().path().starts_with("/api/");
    let mut entry = entry_for(&req, ip);
    let now = Instant::now();
    let who = if !app.limits.may_try(ip, now) {
        Err((Error::RateLimited, None))
    } else if cross_site(&req) {
        Err((
            Error::Denied(Denied::Forbidden("cross-site requests are refused")),
            None,
        ))
    } else {
        match authenticate(&app, req.headers(), ip) {
            Err(denied) => {
                // Only a key or token that does not verify is a guess; a request with none
                // (a link opened without a session, a tab after a restart) is not.
                if presents_credential(&app, req.headers()) {
                    app.limits.failed(ip, now);
                }
                Err((Error::Denied(denied), None))
            }
            Ok(who) if !app.limits.allow(&who.key()) => Err((Error::RateLimited, Some(who))),
            Ok(who) => Ok(who),
        }
    };
    let who = match who {
        Ok(who) => who,
        Err((error, who)) => {
            if let Some(w) = &who {
                attribute(&mut entry, w);
            }
            let response = refuse(&app, api, who.as_ref(), error);
            finish(&mut entry, &response);
            app.audit.record(entry).await;
            return response;
        }
    };
    attribute(&mut entry, &who);
    req.extensions_mut().insert(who.clone());
    let (task_app, mut task_entry) = (app.clone(), entry);
    let handled = tokio::spawn(async move {
        use futures::FutureExt as _;
        let response = match std::panic::AssertUnwindSafe(next.run(req))
            .catch_unwind()
            .await
        {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(path = %task_entry.path, "a request handler panicked");
                refuse(&task_app, api, Some(&who), Error::Internal)
            }
        };
        finish(&mut task_entry, &response);
        task_app.audit.record(task_entry).await;
        response
    })
    .await;
    // The task catches panics and is never aborted: it always answers.
    handled.unwrap_or_else(|_| refuse(&app, api, None, Error::Internal))
}

/// `GET /login`: the sign-in form.
async fn login_form(State(app): State<Shared>) -> Response {
    login_page(&app, StatusCode::OK, None)
}

fn login_page(app: &App, status: StatusCode, message: Option<&str>) -> Response {
    let html = app
        .pages
        .render(
            "login.html",
            context! { status => status.as_u16(), message => message },
        )
        .unwrap_or_else(|_| "sign in".into());
    (status, Html(html)).into_response()
}

/// The sign-in form's body.
#[derive(Deserialize)]
struct SignIn {
    key: String,
}

/// `POST /login`: checks the key like any request (lockout first), then sets the session.
async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let ip = peer.ip();
    let mut entry = entry_for(&req, ip);
    entry.action = "sign-in".into();
    let now = Instant::now();
    let refused_cross_site = cross_site(&req);
    let form = <Form<SignIn> as axum::extract::FromRequest<Shared>>::from_request(req, &app)
        .await
        .ok();
    let response = if !app.limits.may_try(ip, now) {
        login_page(
            &app,
            StatusCode::TOO_MANY_REQUESTS,
            Some("too many failed sign-ins; wait a minute"),
        )
    } else if refused_cross_site {
        login_page(
            &app,
            StatusCode::FORBIDDEN,
            Some("cross-site requests are refused"),
        )
    } else {
        // The key or token pasted, where a program would send it.
        let mut headers = HeaderMap::new();
        if let Some(Form(SignIn { key })) = &form {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {}", key.trim())) {
                if let Some(name) = app
                    .config
                    .identity
                    .jwt
                    .as_ref()
                    .and_then(|j| header::HeaderName::from_bytes(j.header.as_bytes()).ok())
                {
                    headers.insert(name, v.clone());
                }
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        match authenticate(&app, &headers, ip) {
            Ok(who) => {
                attribute(&mut entry, &who);
                match app.sessions.issue(&who, now_ms().max(0) as u64 / 1000) {
                    Some(cookie) => {
                        let mut res = Redirect::to("/dashboard").into_response();
                        if let Ok(v) = HeaderValue::from_str(&cookie) {
                            res.headers_mut().insert(header::SET_COOKIE, v);
                        }
                        res
                    }
                    None => login_page(
                        &app,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        Some("internal error"),
                    ),
                }
            }
            Err(_) => {
                app.limits.failed(ip, now);
                login_page(
                    &app,
                    StatusCode::UNAUTHORIZED,
                    Some("that key or token is not valid"),
                )
            }
        }
    };
    finish(&mut entry, &response);
    app.audit.record(entry).await;
    response
}

/// `POST /logout`: ends the browser session.
async fn logout(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let mut entry = entry_for(&req, peer.ip());
    entry.action = "sign-out".into();
    if let Some(who) = req
        .headers()
        .get(header::COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| app.sessions.principal(c))
    {
        attribute(&mut entry, &who);
    }
    let res = if cross_site(&req) {
        let refused = Denied::Forbidden("cross-site requests are refused");
        refuse(&app, false, None, Error::Denied(refused))
    } else {
        let mut res = Redirect::to("/login").into_response();
        if let Ok(v) = HeaderValue::from_str(&app.sessions.clear()) {
            res.headers_mut().insert(header::SET_COOKIE, v);
        }
        res
    };
    finish(&mut entry, &res);
    app.audit.record(entry).await;
    res
}

/// The reply to a refused or failed request: JSON for the API, a page otherwise.
fn refuse(app: &App, api: bool, who: Option<&Principal>, error: Error) -> Response {
    let status = error.status();
    match &error {
        Error::Store(e) => tracing::error!(error = %e, "a ClickHouse query failed"),
        Error::Send(e) => tracing::error!(error = %e, "an incident command could not be sent"),
        _ => {}
    }
    let message = error.public_message();
    let mut res = if api {
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    } else {
        let html = app
            .pages
            .render(
                "error.html",
                context! { status => status.as_u16(), message => message, who => who },
            )
            .unwrap_or_else(|_| "error".into());
        (status, Html(html)).into_response()
    };
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

/// A page handler's reply.
struct PageReply(Result<Html<String>>, Shared, Principal);

impl IntoResponse for PageReply {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(html) => html.into_response(),
            Err(e) => refuse(&self.1, false, Some(&self.2), e),
        }
    }
}

/// An API handler's reply.
struct ApiReply(Result<Response>, Shared);

impl IntoResponse for ApiReply {
    fn into_response(self) -> Response {
        match self.0 {
            Ok(r) => r,
            Err(e) => refuse(&self.1, true, None, e),
        }
    }
}

fn json<T: Serialize>(v: T) -> Result<Response> {
    Ok(Json(v).into_response())
}

/// `from`, `to`, `cursor`, `limit` and list filters.
#[derive(Debug, Default, Deserialize)]
struct Params {
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
    status: Option<String>,
    severity: Option<String>,
    category: Option<String>,
}

impl Params {
    fn range(&self, app: &App) -> Result<Range> {
        let d = &app.config.dashboard;
        Ok(Range::parse(
            self.from.as_deref(),
            self.to.as_deref(),
            now_ms().div_euclid(DAY_MS),
            d.default_days,
            d.max_days,
        )?)
    }

    fn cursor(&self) -> Result<Option<Cursor>> {
        Ok(self
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?)
    }

    fn limit(&self, app: &App) -> u32 {
        cursor::limit(self.limit, app.config.dashboard.page_size)
    }

    fn filter(&self) -> IncidentFilter {
        IncidentFilter {
            status: self.status.clone(),
            severity: self.severity.clone(),
            category: self.category.clone(),
        }
    }
}

fn render(
    app: &App,
    template: &str,
    who: &Principal,
    page: impl Serialize,
    extra: Value,
) -> Result<Html<String>> {
    let ctx = context! { who => who, page => Value::from_serialize(&page), ..extra };
    app.pages.render(template, ctx).map(Html).map_err(|e| {
        tracing::error!(error = %e, template, "a page did not render");
        Error::BadRequest("the page could not be drawn".into())
    })
}

fn range_ctx(range: &Range) -> Value {
    context! { range_from => range.from(), range_to => range.to(), range_query => range.query() }
}

fn day_labels(days: &[crate::store::DayCalls]) -> Vec<String> {
    days.iter().map(|d| d.day[5..].to_string()).collect()
}

// ---- overview

async fn overview(app: &App, who: &Principal, p: &Params) -> Result<crate::store::Overview> {
    app.store
        .overview(&Scope::of(who), &p.range(app)?, now_ms())
        .await
}

async fn overview_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let page = overview(&app, &who, &p).await?;
        let labels = day_labels(&page.days);
        let rates: Vec<f64> = page
            .days
            .iter()
            .map(|d| if d.calls == 0 { 0.0 } else { d.errors as f64 / d.calls as f64 })
            .collect();
        let mut names: Vec<String> = page.capabilities.iter().map(|c| c.capability.clone()).collect();
        names.sort();
        names.dedup();
        let series: Vec<(String, Vec<f64>)> = names
            .iter()
            .map(|name| {
                let values = page
                    .days
                    .iter()
                    .map(|d| {
                        page.capabilities
                            .iter()
                            .filter(|c| &c.capability == name && c.day == d.day)
                            .map(|c| c.calls as f64)
                            .sum()
                    })
                    .collect();
                (name.clone(), values)
            })
            .collect();
        let charts = context! {
            error_rate => Value::from_serialize(charts::bars(&labels, &rates, "error rate", Some((0.05, "5%")))),
            capabilities => Value::from_serialize(charts::stacked(&labels, &series, None)),
        };
        render(&app, "overview.html", &who, &page, context! { charts => charts, ..range_ctx(&page.range) })
    }
    .await;
    PageReply(out, app, who)
}

async fn overview_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async { json(overview(&app, &who, &p).await?) }.await;
    ApiReply(out, app)
}

async fn me(Extension(who): Extension<Principal>) -> Json<Principal> {
    Json(who)
}

// ---- users and conversations

async fn user(
    app: &App,
    who: &Principal,
    user: &str,
    p: &Params,
) -> Result<crate::store::UserPage> {
    let range = p.range(app)?;
    app.store
        .user(
            &Scope::of(who),
            user,
            &range,
            p.cursor()?.as_ref(),
            p.limit(app),
        )
        .await
}

async fn user_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let page = user(&app, &who, &name, &p).await?;
        let labels = day_labels(&page.days);
        let values: Vec<f64> = page.days.iter().map(|d| d.calls as f64).collect();
        let charts = context! { calls => Value::from_serialize(charts::bars(&labels, &values, "calls", None)) };
        render(&app, "user.html", &who, &page, context! { charts => charts, ..range_ctx(&page.range) })
    }
    .await;
    PageReply(out, app, who)
}

async fn user_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async { json(user(&app, &who, &name, &p).await?) }.await;
    ApiReply(out, app)
}

async fn user_conversations_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async {
        let range = p.range(&app)?;
        json(
            app.store
                .conversations(
                    &Scope::of(&who),
                    Some(&name),
                    &range,
                    p.cursor()?.as_ref(),
                    p.limit(&app),
                )
                .await?,
        )
    }
    .await;
    ApiReply(out, app)
}

async fn conversation_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> PageReply {
    let out = async {
        let page = app.store.conversation(&Scope::of(&who), &id).await?;
        render(&app, "conversation.html", &who, &page, context! {})
    }
    .await;
    PageReply(out, app, who)
}

async fn conversation_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiReply {
    let out = async { json(app.store.conversation(&Scope::of(&who), &id).await?) }.await;
    ApiReply(out, app)
}

// ---- teams

async fn team_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(team): Path<String>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let page = app.store.team(&Scope::of(&who), &team, &p.range(&app)?).await?;
        let labels = day_labels(&page.days);
        let values: Vec<f64> = page.days.iter().map(|d| d.calls as f64).collect();
        let charts = context! { calls => Value::from_serialize(charts::bars(&labels, &values, "requests", None)) };
        render(&app, "team.html", &who, &page, context! { charts => charts, ..range_ctx(&page.range) })
    }
    .await;
    PageReply(out, app, who)
}

async fn team_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(team): Path<String>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async {
        json(
            app.store
                .team(&Scope::of(&who), &team, &p.range(&app)?)
                .await?,
        )
    }
    .await;
    ApiReply(out, app)
}

// ---- incidents

async fn incidents_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let filter = p.filter();
        let range = p.range(&app)?;
        let page = app
            .store
            .incidents(
                &Scope::of(&who),
                &range,
                &filter,
                p.cursor()?.as_ref(),
                p.limit(&app),
            )
            .await?;
        let filter_query = format!("{}&{}", range.query(), filter_pairs(&filter));
        render(
            &app,
            "incidents.html",
            &who,
            &page,
            context! { filter => Value::from_serialize(&filter), filter_query => filter_query, ..range_ctx(&range) },
        )
    }
    .await;
    PageReply(out, app, who)
}

/// `status=…&severity=…` of the filters set, for "next page" links.
fn filter_pairs(f: &IncidentFilter) -> String {
    [
        ("status", &f.status),
        ("severity", &f.severity),
        ("category", &f.category),
    ]
    .iter()
    .filter_map(|(k, v)| {
        v.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("{k}={}", crate::render::seg(v.to_string())))
    })
    .collect::<Vec<_>>()
    .join("&")
}

async fn incidents_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async {
        json(
            app.store
                .incidents(
                    &Scope::of(&who),
                    &p.range(&app)?,
                    &p.filter(),
                    p.cursor()?.as_ref(),
                    p.limit(&app),
                )
                .await?,
        )
    }
    .await;
    ApiReply(out, app)
}

async fn incident_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> PageReply {
    let out = async {
        let page = app.store.incident(&Scope::of(&who), &id).await?;
        render(
            &app,
            "incident.html",
            &who,
            &page,
            context! { can_act => who.role >= Role::Lead },
        )
    }
    .await;
    PageReply(out, app, who)
}

async fn incident_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiReply {
    let out = async { json(app.store.incident(&Scope::of(&who), &id).await?) }.await;
    ApiReply(out, app)
}

async fn incident_form(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Form(act): Form<Act>,
) -> Response {
    match app
        .commands
        .send(&app.store, &who, &id, &act, now_ms())
        .await
    {
        Ok(_) => Redirect::to(&format!("/dashboard/incidents/{}", crate::render::seg(id)))
            .into_response(),
        Err(e) => refuse(&app, false, Some(&who), e),
    }
}

async fn incident_api_action(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Json(act): Json<Act>,
) -> ApiReply {
    let out = async {
        let command_id = app
            .commands
            .send(&app.store, &who, &id, &act, now_ms())
            .await?;
        Ok((
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "command_id": command_id })),
        )
            .into_response())
    }
    .await;
    ApiReply(out, app)
}

// ---- capabilities, rules, audit

async fn capabilities(
    app: &App,
    who: &Principal,
    p: &Params,
) -> Result<crate::store::CapabilitiesPage> {
    who.at_least(Role::Admin)?;
    app.store
        .capabilities(&Scope::of(who), &p.range(app)?, now_ms().div_euclid(DAY_MS))
        .await
}

async fn capabilities_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let page = capabilities(&app, &who, &p).await?;
        render(
            &app,
            "capabilities.html",
            &who,
            &page,
            range_ctx(&page.range),
        )
    }
    .await;
    PageReply(out, app, who)
}

async fn capabilities_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async { json(capabilities(&app, &who, &p).await?) }.await;
    ApiReply(out, app)
}

async fn rules_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let page = app.store.rules(&Scope::of(&who), &p.range(&app)?).await?;
        let labels: Vec<String> = page.trend.iter().map(|t| t.name[5..].to_string()).collect();
        let values: Vec<f64> = page.trend.iter().map(|t| t.count as f64).collect();
        let charts = context! { trend => Value::from_serialize(charts::bars(&labels, &values, "triggers", None)) };
        render(&app, "rules.html", &who, &page, context! { charts => charts, ..range_ctx(&page.range) })
    }
    .await;
    PageReply(out, app, who)
}

async fn rules_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async { json(app.store.rules(&Scope::of(&who), &p.range(&app)?).await?) }.await;
    ApiReply(out, app)
}

async fn audit_page(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> PageReply {
    let out = async {
        let range = p.range(&app)?;
        let page = app
            .store
            .audit(
                &Scope::of(&who),
                &range,
                p.cursor()?.as_ref(),
                p.limit(&app),
            )
            .await?;
        render(&app, "audit.html", &who, &page, range_ctx(&range))
    }
    .await;
    PageReply(out, app, who)
}

async fn audit_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(p): Query<Params>,
) -> ApiReply {
    let out = async {
        json(
            app.store
                .audit(
                    &Scope::of(&who),
                    &p.range(&app)?,
                    p.cursor()?.as_ref(),
                    p.limit(&app),
                )
                .await?,
        )
    }
    .await;
    ApiReply(out, app)
}

// ---- feedback, export, live

async fn feedback_form(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Form(m): Form<Mark>,
) -> Response {
    match actions::mark(&app.store, &who, &m, now_ms()).await {
        Ok(()) => {
            // Back to a dashboard page only: never an open redirect.
            let back = m
                .back
                .filter(|b| {
                    b.starts_with("/dashboard/") && !b.starts_with("//") && !b.contains('\\')
                })
                .unwrap_or_else(|| "/dashboard".into());
            Redirect::to(&back).into_response()
        }
        Err(e) => refuse(&app, false, Some(&who), e),
    }
}

async fn feedback_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Json(m): Json<Mark>,
) -> ApiReply {
    let out = async {
        actions::mark(&app.store, &who, &m, now_ms()).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    ApiReply(out, app)
}

async fn export_api(
    State(app): State<Shared>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ExportQuery>,
) -> ApiReply {
    let out = async {
        let p = Params {
            from: q.from.clone(),
            to: q.to.clone(),
            ..Params::default()
        };
        let range = p.range(&app)?;
        export::export(&app.store, &Scope::of(&who), &range, q.format.as_deref()).await
    }
    .await;
    ApiReply(out, app)
}

async fn live_api(State(app): State<Shared>, Extension(who): Extension<Principal>) -> Response {
    let caller = who.key();
    let Some(slot) = app.live.take(caller) else {
        return refuse(&app, true, Some(&who), Error::RateLimited);
    };
    crate::live::stream(
        app.store.clone(),
        Scope::of(&who),
        now_ms() - 10_000,
        app.config.dashboard.live_every,
        app.shutdown.token(),
        slot,
    )
    .into_response()
}
