//! The router's side of route sources: `source show`, and applying the requests
//! the sources send (not journaled; a refused one is counted on its source).

use super::{SourceHandle, SourceStatus};
use crate::daemon::{dispatch, Backend, Router};
use crate::proto::{Reply, Response};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// One route source, as `source show` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `kernel` or `fpm`.
    pub name: String,
    /// The protocol its routes carry (`kernel`, `frr`).
    pub protocol: String,
    pub connected: bool,
    pub routes: u64,
    pub messages: u64,
    pub resyncs: u64,
    /// Inconsistent dumps taken again (kernel mirror); absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dump_retries: u64,
    pub ignored: u64,
    pub refused: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

pub fn show<B: Backend>(r: &Router<B>) -> Response {
    Ok(Reply::Sources(infos(r)))
}

pub fn infos<B: Backend>(r: &Router<B>) -> Vec<SourceInfo> {
    r.sources
        .iter()
        .map(|s| SourceInfo {
            name: s.name.to_string(),
            protocol: s.protocol.name().to_string(),
            connected: s.status.connected.load(Relaxed),
            routes: s.status.routes.load(Relaxed),
            messages: s.status.messages.load(Relaxed),
            resyncs: s.status.resyncs.load(Relaxed),
            dump_retries: s.status.dump_retries.load(Relaxed),
            ignored: s.status.ignored.load(Relaxed),
            refused: s.status.refused.load(Relaxed),
            last_error: s.status.last_error(),
        })
        .collect()
}

/// Starts taking requests from a route source.
pub fn attach<B: Backend>(r: &mut Router<B>, source: SourceHandle) {
    tracing::info!(source = source.name, "route source attached");
    r.sources.push(source);
}

/// Applies up to `budget` pending requests from each route source. Returns
/// whether there was work.
pub fn poll<B: Backend>(r: &mut Router<B>, budget: usize) -> bool {
    let mut busy = false;
    for i in 0..r.sources.len() {
        for _ in 0..budget {
            let Ok(request) = r.sources[i].requests.try_recv() else {
                break;
            };
            busy = true;
            r.counters.requests += 1;
            let name = request.name();
            if let (Err(e), _) = dispatch::dispatch(r, request, Instant::now()) {
                let source = &r.sources[i];
                SourceStatus::bump(&source.status.refused);
                tracing::debug!(source = source.name, request = name, error = %e.message, "source request refused");
                source.status.set_error(format!("{name}: {}", e.message));
            }
        }
    }
    busy
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
