//! The shim's HTTP/1.1 server: accepts connections, serves each one's calls with a handler,
//! and drains them on shutdown.
//!
//! It is hyper's connection server and nothing more: routing is a `match` in the handler
//! ([`crate::routes::handle`]), so a call costs no work the shim does not need.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use sightline_runtime::Shutdown;
use tokio::net::TcpListener;

/// How long to wait before accepting again after an accept error (out of file descriptors,
/// say), so that the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The address a call's connection came from, in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// Serves every connection accepted on `listener` with `handle`, until `shutdown`. Then it
/// stops accepting, lets each connection finish the call it is serving (streams included),
/// closes idle ones, and returns once all are closed or `grace` has passed, whichever is
/// first. Returns when shutdown must be over (its start plus `grace`), for whatever else must
/// finish by then.
pub async fn serve<H, F>(
    listener: TcpListener,
    shutdown: Shutdown,
    grace: Duration,
    handle: H,
) -> Instant
where
    H: Fn(hyper::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let connections = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.wait() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cannot accept a connection; retrying");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Small request/response exchanges must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let handle = handle.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(Peer(peer));
            let answer = handle(request);
            async move { Ok::<_, Infallible>(answer.await) }
        });
        let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let deadline = Instant::now() + grace;
    let open = connections.count();
    tracing::info!(connections = open, "draining connections");
    if tokio::time::timeout_at(deadline.into(), connections.shutdown())
        .await
        .is_err()
    {
        tracing::error!(
            "connections still open at the end of the shutdown grace period; closing them"
        );
    }
    deadline
}
