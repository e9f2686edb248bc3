//! FPM server for FRR's zebra (`zebra -M dplane_fpm_nl`): zebra connects (to
//! 127.0.0.1:2620 by default) and streams its selected routes as netlink messages
//! in FPM frames. See `docs/FPM.md`.
//!
//! - [`framing`]: FPM frames out of a byte stream.
//! - [`decode`]: the netlink messages in a frame: routes (through the shared
//!   decoder, [`crate::source::netlink`]) and nexthop objects.
//! - `build` (tests only): those messages as zebra writes them.
//! - [`state`]: nexthop objects and routes resolved into fibre targets, through a
//!   [`crate::source::SourceView`].
//! - `server`: the thread: one connection at a time, the resync and hold timers.
//!
//! **End of a resync.** `dplane_fpm_nl` sends no end-of-dump marker: on connect it
//! walks its LSPs, nexthop groups and RIB (a walk whose output buffer is full
//! comes back a second later) and then just goes on with live updates. So a resync
//! that began on connect ends when zebra has been quiet for [`Timing::quiet`]
//! (longer than the walk's one-second pause), but not before [`Timing::settle`]
//! after the connection (zebra's protocol daemons reconnect to a restarted zebra
//! and send their routes shortly after its dump), and at the latest
//! [`Timing::max`] after it (a stream of updates that never pauses does not hold
//! stale routes for ever). Ending too early costs no route for good: a route sent
//! after the end is installed as new; only its stale copy was removed meanwhile.
//!
//! **Disconnect.** Routes are kept: zebra reconnects every 3 s and resends them.
//! If it has not come back within [`Timing::hold`], they are removed.

#[cfg(test)]
pub mod build;
pub mod decode;
pub mod framing;
mod server;
pub mod state;

use crate::config::FpmSourceConfig;
use crate::source::SourceHandle;
use anyhow::Context;
use fib::Protocol;
use std::net::TcpListener;
use std::time::Duration;

/// The FPM source's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// A resync ends once zebra has sent nothing for this long...
    pub quiet: Duration,
    /// ...and at least this long after the connection...
    pub settle: Duration,
    /// ...or this long after the connection, quiet or not.
    pub max: Duration,
    /// Routes are kept this long after zebra disconnects.
    pub hold: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            quiet: Duration::from_millis(1500),
            settle: Duration::from_secs(3),
            max: Duration::from_secs(60),
            hold: Duration::from_secs(60),
        }
    }
}

/// Starts listening for zebra on `cfg.listen` (a bind error is a start-up error).
pub fn spawn(cfg: &FpmSourceConfig) -> anyhow::Result<SourceHandle> {
    let listener = TcpListener::bind(cfg.listen)
        .with_context(|| format!("FPM: cannot listen on {}", cfg.listen))?;
    spawn_on(listener, cfg.distance, Timing::default())
}

/// Starts the server on a bound listener with the given timers.
pub fn spawn_on(
    listener: TcpListener,
    distance: Option<u8>,
    timing: Timing,
) -> anyhow::Result<SourceHandle> {
    listener
        .set_nonblocking(true)
        .context("FPM: non-blocking listener")?;
    let addr = listener.local_addr().context("FPM: listener address")?;
    let (handle, feed) = SourceHandle::new("fpm", Protocol::Frr);
    let server = server::Server::new(listener, feed, timing, distance);
    let thread = std::thread::Builder::new()
        .name("fpm".into())
        .spawn(move || server.run())
        .context("FPM: server thread")?;
    tracing::info!(listen = %addr, "FPM server listening for zebra");
    Ok(handle.attach(thread))
}

#[cfg(test)]
mod tests;
