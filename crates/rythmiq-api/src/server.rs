//! The accept loop: HTTP/1.1 connections served by hyper with a header-read timeout, and a graceful stop.
//!
//! Why not `axum::serve`: it gives hyper no timer, so a connection that sends its request line and headers a byte
//! at a time (slowloris), or a keep-alive connection that goes quiet, is held forever. Here every connection gets
//! `header_read_timeout`, which hyper counts from the moment the connection waits for a request head: the first
//! request's, and the next one's after each response. So one value bounds both a slow head and an idle keep-alive
//! connection. Bodies have their own timeouts, applied by the handler that reads them (`documents::read_body`).

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, asks every open connection to finish
/// its request in flight and close, and returns once the last one closed. Accept errors (out of file descriptors,
/// a connection reset before it was accepted) are logged and survived.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    // `stop` tells the connections to wind down; every connection task holds a clone of `open_rx`, so
    // `open_tx.closed()` resolves once the last one has ended.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (open_tx, open_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(error = %err, "accepting a connection failed");
                // EMFILE and friends do not clear at once: do not spin on them.
                if !is_per_connection(&err) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let mut stop_rx = stop_rx.clone();
        let open_rx = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            // An error here means the accept loop is gone (`serve`'s grace period ran out): wind down as well.
            let stopped = async move {
                let _ = stop_rx.wait_for(|stop| *stop).await;
            };
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stopped => {
                    // Finishes the request in flight (if any), then closes; an idle connection closes at once.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                // A timed-out head, a reset or a malformed request: the client's problem, not an event.
                tracing::debug!(%remote, error = %err, "connection ended with an error");
            }
            drop(open_rx);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(open_rx);
    open_tx.closed().await;
}

/// Accept errors that concern one connection only (it was gone before we took it): retry at once.
fn is_per_connection(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}
