//! The client side: one pooled connection set to the providers (HTTP/1.1 and HTTP/2, TLS with
//! the platform's roots, through an egress proxy when `HTTPS_PROXY` and friends say so) and how
//! a caller's request is rewritten for upstream.
//!
//! hyper's client is used directly: a proxy needs none of a general client's layers (redirects,
//! retries, URL parsing), and every call pays for them.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use futures::future::BoxFuture;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::request::Parts;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;

use crate::Error;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sightline_events::Provider;

use crate::config::UpstreamConfig;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The providers' APIs, as the shim reaches them.
#[derive(Clone)]
pub struct Upstream {
    client: Client<HttpsConnector<Egress>, Body>,
    anthropic: Target,
    openai: Target,
    timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("anthropic", &self.anthropic.prefix)
            .field("openai", &self.openai.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One provider: where its API lives and the credential that replaces callers' own, if any.
#[derive(Clone)]
struct Target {
    /// `scheme://authority/path-prefix`, without a trailing slash: a call's path and query
    /// are appended as they are.
    prefix: String,
    credential: Option<(HeaderName, HeaderValue)>,
}

/// Why a call got no response from upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No response head within `shim.upstream_timeout`.
    #[error("upstream sent no response within {0:?} (shim.upstream_timeout)")]
    Timeout(Duration),
    /// Connecting, TLS, or the exchange failed.
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
}

impl UpstreamError {
    /// The status the caller gets, and the error type named in the body.
    pub fn status(&self) -> (http::StatusCode, &'static str) {
        match self {
            Self::Timeout(_) => (http::StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
            Self::Unreachable(_) => (http::StatusCode::BAD_GATEWAY, "upstream_unreachable"),
        }
    }
}

impl Upstream {
    /// A client for `config`'s base URLs. Central credentials are read from their env vars
    /// now; a configured var that is unset is an error naming the key. Egress proxies come
    /// from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`, read as curl reads them.
    pub fn new(config: &UpstreamConfig, timeout: Duration) -> crate::Result<Self> {
        Self::with_proxies(config, timeout, Matcher::from_env())
    }

    fn with_proxies(
        config: &UpstreamConfig,
        timeout: Duration,
        proxies: Matcher,
    ) -> crate::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(|e| Error::Environment(format!("cannot load the platform's TLS roots: {e}")))?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(Egress {
                direct: http,
                proxies: Arc::new(proxies),
            });
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            client,
            anthropic: Target::new(
                "upstream.anthropic",
                &config.anthropic,
                "upstream.anthropic_api_key_env",
                config.anthropic_api_key_env.as_deref(),
                |key| (HeaderName::from_static("x-api-key"), key.to_string()),
            )?,
            openai: Target::new(
                "upstream.openai",
                &config.openai,
                "upstream.openai_api_key_env",
                config.openai_api_key_env.as_deref(),
                |key| (AUTHORIZATION, format!("Bearer {key}")),
            )?,
            timeout,
        })
    }

    /// Sends the call to `provider`: same method, path, query, headers (hop-by-hop and the
    /// shim's own removed, credentials replaced when configured) and `body`. Resolves with
    /// the response head; the body streams after.
    pub async fn send(
        &self,
        provider: Provider,
        parts: &Parts,
        body: Body,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        let request = self
            .request(provider, parts, body)
            .map_err(|e| UpstreamError::Unreachable(format!("cannot build the request: {e}")))?;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(UpstreamError::Unreachable(describe(&e))),
            Err(_) => Err(UpstreamError::Timeout(self.timeout)),
        }
    }

    fn request(
        &self,
        provider: Provider,
        parts: &Parts,
        body: Body,
    ) -> Result<http::Request<Body>, http::Error> {
        let target = match provider {
            Provider::Anthropic => &self.anthropic,
            Provider::Openai | Provider::Other => &self.openai,
        };
        let mut request = http::Request::builder()
            .method(parts.method.clone())
            .uri(target.uri(&parts.uri))
            .body(body)?;
        let headers = request.headers_mut();
        for (name, value) in &parts.headers {
            let is_credential = name == AUTHORIZATION || name == "x-api-key";
            if forwardable(name) && !(is_credential && target.credential.is_some()) {
                headers.append(name, value.clone());
            }
        }
        if let Some((name, value)) = &target.credential {
            headers.insert(name, value.clone());
        }
        Ok(request)
    }
}

impl Target {
    fn new(
        url_key: &str,
        url: &str,
        env_key: &str,
        env: Option<&str>,
        header: fn(&str) -> (HeaderName, String),
    ) -> crate::Result<Self> {
        let uri: http::Uri = url.parse().map_err(|e| {
            Error::config(
                url_key,
                format!("'{url}' is not a URL ({e}); set it to e.g. https://api.anthropic.com"),
            )
        })?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(Error::config(
                url_key,
                format!("'{url}' needs a scheme and a host, e.g. https://api.anthropic.com"),
            ));
        };
        if !matches!(scheme, "http" | "https") || uri.query().is_some() {
            return Err(Error::config(
                url_key,
                format!("'{url}' must be an http(s) URL without a query"),
            ));
        }
        let credential = match env {
            None => None,
            Some(var) => {
                let key = std::env::var(var).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
                    Error::config(env_key, format!("the env var {var} is not set; set it to the central API key, or remove {env_key} to pass callers' keys through"))
                })?;
                let (name, value) = header(&key);
                let mut value = HeaderValue::try_from(value).map_err(|_| {
                    Error::config(
                        env_key,
                        format!("the env var {var} holds characters a header cannot carry"),
                    )
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        Ok(Self {
            prefix: format!("{scheme}://{authority}{}", uri.path().trim_end_matches('/')),
            credential,
        })
    }

    /// The prefix followed by the call's path and query.
    fn uri(&self, call: &http::Uri) -> String {
        let tail = call.path_and_query().map_or("/", |p| p.as_str());
        let mut uri = String::with_capacity(self.prefix.len() + tail.len());
        uri.push_str(&self.prefix);
        uri.push_str(tail);
        uri
    }
}

/// Opens upstream connections: directly, or through an HTTP `CONNECT` tunnel when the proxy
/// settings cover the destination.
#[derive(Clone)]
struct Egress {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<http::Uri> for Egress {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: http::Uri) -> Self::Future {
        match self.proxies.intercept(&dst) {
            None => {
                let connecting = self.direct.call(dst);
                Box::pin(async move { connecting.await.map_err(Into::into) })
            }
            Some(proxy) => {
                let mut tunnel = Tunnel::new(proxy.uri().clone(), self.direct.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let connecting = tunnel.call(dst);
                Box::pin(async move {
                    connecting
                        .await
                        .map_err(|e| format!("through the egress proxy: {}", describe(&e)).into())
                })
            }
        }
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the shim's own, which are not forwarded either
/// way. `host` and `content-length` are set for the hop by the client and the server.
pub fn forwardable(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    ) && !name.as_str().starts_with("x-sightline-")
}

/// An error and its causes, one line.
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a call the way the server hands it over.
    fn parts(call: http::request::Builder) -> Parts {
        call.body(()).expect("request").into_parts().0
    }

    fn upstream(anthropic: &str) -> crate::Result<Upstream> {
        let config = UpstreamConfig {
            anthropic: anthropic.into(),
            ..UpstreamConfig::default()
        };
        Upstream::new(&config, Duration::from_secs(1))
    }

    #[test]
    fn upstream_urls_keep_the_base_prefix_and_the_query() {
        let cases = [
            (
                "https://api.anthropic.com",
                "/v1/messages",
                "https://api.anthropic.com/v1/messages",
            ),
            (
                "http://gw.internal:8080/anthropic/",
                "/v1/messages?beta=true",
                "http://gw.internal:8080/anthropic/v1/messages?beta=true",
            ),
            (
                "http://127.0.0.1:9/",
                "/v1/models?",
                "http://127.0.0.1:9/v1/models?",
            ),
        ];
        for (base, call, want) in cases {
            let up = upstream(base).expect("base");
            let uri: http::Uri = call.parse().expect("uri");
            assert_eq!(up.anthropic.uri(&uri), want, "{call}");
        }
    }

    #[test]
    fn bad_base_urls_and_unset_key_vars_name_their_key() {
        for bad in ["api.anthropic.com", "ftp://x", "http://x/?q=1", "not a url"] {
            let err = upstream(bad).expect_err(bad).to_string();
            assert!(err.starts_with("upstream.anthropic:"), "{err}");
        }
        let config = UpstreamConfig {
            openai_api_key_env: Some("SIGHTLINE_TEST_UNSET_OPENAI_KEY".into()),
            ..UpstreamConfig::default()
        };
        let err = Upstream::new(&config, Duration::from_secs(1))
            .expect_err("unset")
            .to_string();
        assert!(err.contains("upstream.openai_api_key_env"), "{err}");
        assert!(err.contains("SIGHTLINE_TEST_UNSET_OPENAI_KEY"), "{err}");
    }

    /// A CONNECT proxy that records each request line, then relays bytes to where it was asked.
    async fn connect_proxy() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(std::sync::Mutex::new(vec![]));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut client = BufReader::new(client);
                    let mut line = String::new();
                    client.read_line(&mut line).await.expect("request line");
                    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().expect("log").push(line.trim().to_string());
                    loop {
                        let mut header = String::new();
                        client.read_line(&mut header).await.expect("header");
                        if header.trim().is_empty() {
                            break;
                        }
                    }
                    let mut server = tokio::net::TcpStream::connect(target)
                        .await
                        .expect("target");
                    let mut client = client.into_inner();
                    client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .expect("reply");
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        (url, seen)
    }

    #[tokio::test]
    async fn calls_go_through_the_egress_proxy_unless_no_proxy_names_the_host() {
        let upstream = sightline_testkit::fake_upstream::FakeUpstream::start()
            .await
            .expect("fake upstream");
        let (proxy, seen) = connect_proxy().await;
        let config = UpstreamConfig {
            anthropic: upstream.url.clone(),
            ..UpstreamConfig::default()
        };
        let call = |proxies: Matcher| {
            let up = Upstream::with_proxies(&config, Duration::from_secs(60), proxies)
                .expect("upstream");
            async move {
                let parts = parts(http::Request::get("/v1/models"));
                up.send(Provider::Anthropic, &parts, Body::empty())
                    .await
                    .expect("answered")
                    .status()
            }
        };
        let host = upstream.url.trim_start_matches("http://").to_string();
        let via_proxy = Matcher::builder().http(proxy.clone()).build();
        assert_eq!(call(via_proxy).await, 200);
        assert_eq!(
            *seen.lock().expect("log"),
            [format!("CONNECT {host} HTTP/1.1")]
        );
        let exempt = Matcher::builder().http(proxy).no("127.0.0.1").build();
        assert_eq!(call(exempt).await, 200);
        assert_eq!(
            seen.lock().expect("log").len(),
            1,
            "NO_PROXY host was tunnelled"
        );
        assert_eq!(upstream.requests().len(), 2);
    }

    #[test]
    fn hop_by_hop_and_own_headers_stay_and_credentials_are_replaced() {
        std::env::set_var("SIGHTLINE_TEST_UPSTREAM_KEY", "sk-central");
        let config = UpstreamConfig {
            openai_api_key_env: Some("SIGHTLINE_TEST_UPSTREAM_KEY".into()),
            ..UpstreamConfig::default()
        };
        let up = Upstream::new(&config, Duration::from_secs(1)).expect("upstream");
        let call = http::Request::post("/v1/chat/completions?x=1")
            .header("authorization", "Bearer sk-personal")
            .header("connection", "keep-alive")
            .header("x-sightline-conversation", "c1")
            .header("openai-beta", "assistants=v2")
            .header("openai-beta", "other");
        let sent = up
            .request(Provider::Openai, &parts(call), Body::empty())
            .expect("built");
        assert_eq!(
            sent.uri().to_string(),
            "https://api.openai.com/v1/chat/completions?x=1"
        );
        let h = sent.headers();
        assert_eq!(h["authorization"], "Bearer sk-central");
        assert!(h["authorization"].is_sensitive());
        assert!(h.get("connection").is_none());
        assert!(h.get("x-sightline-conversation").is_none());
        assert_eq!(h.get_all("openai-beta").iter().count(), 2);
        // Anthropic has no central key here: the caller's passes through.
        let call = http::Request::post("/v1/messages").header("x-api-key", "sk-ant-personal");
        let sent = up
            .request(Provider::Anthropic, &parts(call), Body::empty())
            .expect("built");
        assert_eq!(sent.headers()["x-api-key"], "sk-ant-personal");
    }
}
