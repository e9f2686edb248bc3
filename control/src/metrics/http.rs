//! The metrics endpoint's thread: `GET /metrics` answers OpenMetrics text.
//!
//! It is a client of the control socket, like `fibrectl`: each scrape sends one
//! `metrics` request, which the control thread answers in one turn from counters
//! it already keeps. So the endpoint never runs on, or reads from, a forwarding
//! core, a slow scraper costs the control loop nothing but that one request, and a
//! scrape shows the same figures as `fibrectl -j stats`. A scraper that asks for
//! OpenMetrics (Prometheus does) gets it; any other gets the classic text format.

use super::expose::{classic, render, CLASSIC_CONTENT_TYPE, CONTENT_TYPE};
use crate::cli::ControlClient;
use crate::proto::{Reply, Request};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a scrape waits for the daemon's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// The running endpoint; [`Endpoint::stop`] ends its thread.
pub struct Endpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Listens on `listen` (a bind error is returned: the caller decides whether
    /// it is fatal) and serves scrapes with snapshots from `control_socket`.
    pub fn start(listen: SocketAddr, control_socket: PathBuf) -> anyhow::Result<Endpoint> {
        let server = tiny_http::Server::http(listen)
            .map_err(|e| anyhow::anyhow!("metrics: cannot listen on {listen}: {e}"))?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| anyhow::anyhow!("metrics: {listen} is not an IP address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("fibre-metrics".into())
                .spawn(move || serve(server, control_socket, &stop))?
        };
        tracing::info!(%addr, "metrics endpoint listening (GET /metrics)");
        Ok(Endpoint {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens (the port chosen when `listen` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.halt();
    }
}

fn serve(server: tiny_http::Server, socket: PathBuf, stop: &AtomicBool) {
    // One control connection, made again after the daemon drops it.
    let mut client: Option<ControlClient> = None;
    while !stop.load(Ordering::Relaxed) {
        let request = match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "metrics endpoint: accept failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let path = request.url().split('?').next().unwrap_or("");
        // Prometheus asks for OpenMetrics; anything else gets the classic format.
        let openmetrics = request.headers().iter().any(|h| {
            h.field.equiv("Accept") && h.value.as_str().contains("application/openmetrics-text")
        });
        let response = match (request.method(), path) {
            (tiny_http::Method::Get, "/metrics") => match scrape(&mut client, &socket) {
                Ok(text) if openmetrics => text_response(200, CONTENT_TYPE, text),
                Ok(text) => text_response(200, CLASSIC_CONTENT_TYPE, classic(&text)),
                Err(e) => {
                    client = None;
                    text_response(
                        503,
                        "text/plain; charset=utf-8",
                        format!("fibred did not answer: {e:#}\n"),
                    )
                }
            },
            (tiny_http::Method::Get, "/") => text_response(
                200,
                "text/plain; charset=utf-8",
                "fibred metrics: GET /metrics (OpenMetrics text)\n".into(),
            ),
            (tiny_http::Method::Get, _) => {
                text_response(404, "text/plain; charset=utf-8", "not found\n".into())
            }
            _ => text_response(
                405,
                "text/plain; charset=utf-8",
                "only GET is served\n".into(),
            ),
        };
        // A scraper that went away mid-answer is its own business.
        let _ = request.respond(response);
    }
}

/// One snapshot from the daemon, as text. A kept connection that fails (the
/// daemon dropped it, or restarted) is made again once before giving up.
fn scrape(client: &mut Option<ControlClient>, socket: &PathBuf) -> anyhow::Result<String> {
    let kept = client.is_some();
    match ask(client, socket) {
        Err(_) if kept => {
            *client = None;
            ask(client, socket)
        }
        done => done,
    }
}

fn ask(client: &mut Option<ControlClient>, socket: &PathBuf) -> anyhow::Result<String> {
    if client.is_none() {
        let c = ControlClient::connect(socket)?;
        c.set_timeout(Some(ANSWER_TIMEOUT))?;
        *client = Some(c);
    }
    let c = client.as_mut().expect("connected above");
    match c.call(&Request::Metrics)? {
        Reply::Metrics(m) => Ok(render(&m)),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

fn text_response(
    status: u16,
    content_type: &str,
    body: String,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes())
        .expect("a valid header");
    tiny_http::Response::from_string(body)
        .with_status_code(status)
        .with_header(header)
}
