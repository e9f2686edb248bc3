//! Mirror of a Linux routing table over rtnetlink (`[kernel]`, docs/KERNEL.md).
//!
//! One thread, in the configured network namespace, owns one `NETLINK_ROUTE` socket
//! subscribed to IPv4 route, address and link changes. It dumps the IPv4 routes,
//! then follows the notifications; [`mirror::Mirror`] keeps the kernel table's
//! routes and turns every change into the request that makes fibre agree
//! (`route replace`/`route del`, protocol `kernel`). A dump is a resync: it changes
//! only what differs and deletes what vanished. It is repeated
//!
//! - at once when the kernel flags it interrupted (`NLM_F_DUMP_INTR`), up to
//!   [`KernelOptions::dump_attempts`] times in a row, then after
//!   [`KernelOptions::retry_after`] with the error in `source show`;
//! - after the socket's receive buffer overflowed (`ENOBUFS`: notifications were
//!   lost);
//! - shortly after a link or address event (the kernel flushes routes through a
//!   link that goes down without a notification for each);
//! - after the socket had to be reopened.
//!
//! Files by role: `socket` (the netlink socket), [`classify`] (what one route
//! message means for the mirror, on top of the shared decoder in
//! [`crate::source::netlink`]), `aliases` (the kernel's routes per prefix and how
//! messages change them), `dump` (dumps, their failures and their sweep),
//! [`mirror`] (the state and the datagrams); tests in `tests`, on the rig in `rig`.

mod aliases;
pub mod classify;
mod dump;
pub mod mirror;
#[cfg(test)]
mod rig;
mod socket;
#[cfg(test)]
mod tests;

use crate::config::KernelSourceConfig;
use crate::source::{SourceFeed, SourceHandle, SourceStatus};
use anyhow::{bail, Context};
use fib::Protocol;
use mirror::{DumpPolicy, Mirror};
use socket::RouteSocket;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the mirror runs; [`Default`] is what `fibred` uses.
#[derive(Debug, Clone)]
pub struct KernelOptions {
    /// Receive buffer asked for (`SO_RCVBUFFORCE`, else `SO_RCVBUF` capped by
    /// `net.core.rmem_max`); the kernel doubles it. Tests shrink it to force
    /// `ENOBUFS`.
    pub rcvbuf: usize,
    /// Interrupted dumps retried at once, in a row.
    pub dump_attempts: u32,
    /// Wait before dumping again after repeated interruptions, a refused dump or a
    /// socket error.
    pub retry_after: Duration,
    /// A dump that makes no progress for this long reopens the socket.
    pub dump_stall: Duration,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions {
            rcvbuf: 32 << 20,
            dump_attempts: 5,
            retry_after: Duration::from_secs(1),
            dump_stall: Duration::from_secs(10),
        }
    }
}

/// Counters beyond [`SourceStatus`], for tests and logs.
#[derive(Debug, Default)]
pub struct KernelCounters {
    /// Dumps requested (the first and every re-dump).
    pub dumps: AtomicU64,
    /// Dumps the kernel flagged `NLM_F_DUMP_INTR`.
    pub interrupted: AtomicU64,
    /// `ENOBUFS` (and truncated or malformed datagrams, which lose the same way).
    pub overflows: AtomicU64,
    /// Link and IPv4 address events that scheduled a re-dump.
    pub link_events: AtomicU64,
    /// Times the socket was reopened after an error.
    pub reopens: AtomicU64,
    /// Route notifications that arrived while a dump was under way.
    pub changes_during_dump: AtomicU64,
    /// Dump entries older than a notification that arrived before them in the
    /// same dump (Linux builds IPv4 dump parts concurrently with changes): the
    /// notification stood.
    pub stale_dump_entries: AtomicU64,
    /// Dumps repeated to verify one that raced with changes it could not settle
    /// (a replace of a route not yet known, a part ending in a changed leaf).
    pub verifying_dumps: AtomicU64,
}

/// Starts mirroring the configured kernel table.
pub fn spawn(cfg: &KernelSourceConfig) -> anyhow::Result<SourceHandle> {
    spawn_with(cfg, KernelOptions::default()).map(|(h, _)| h)
}

/// [`spawn`] with explicit options; also returns the mirror's own counters.
pub fn spawn_with(
    cfg: &KernelSourceConfig,
    opts: KernelOptions,
) -> anyhow::Result<(SourceHandle, Arc<KernelCounters>)> {
    let netns = match &cfg.netns {
        Some(name) => Some(open_netns(name)?),
        None => None,
    };
    let (handle, feed) = SourceHandle::new("kernel", Protocol::Kernel);
    let counters = Arc::new(KernelCounters::default());
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<anyhow::Result<()>>(1);
    let cfg2 = cfg.clone();
    let counters2 = counters.clone();
    let thread = std::thread::Builder::new()
        .name("fibre-kernel".into())
        .spawn(move || {
            let sock = match enter_and_open(netns, &cfg2, &opts) {
                Ok(s) => {
                    let _ = ready_tx.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            run(sock, &cfg2, &opts, &feed, counters2);
        })
        .context("starting the kernel mirror thread")?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((handle.attach(thread), counters)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            bail!("the kernel mirror thread died while starting")
        }
    }
}

/// The namespace file of `ip netns add NAME`.
fn open_netns(name: &str) -> anyhow::Result<File> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        bail!("kernel.netns {name:?}: not a namespace name (a name under /var/run/netns)");
    }
    let path = format!("/var/run/netns/{name}");
    File::open(&path).with_context(|| {
        format!("network namespace {name:?}: cannot open {path} (does it exist? `ip netns add {name}` creates it)")
    })
}

/// Moves this thread (only) into the namespace and opens the socket there.
fn enter_and_open(
    netns: Option<File>,
    cfg: &KernelSourceConfig,
    opts: &KernelOptions,
) -> anyhow::Result<RouteSocket> {
    if let Some(f) = netns {
        // SAFETY: setns on a namespace fd we opened; it moves the calling thread only.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            let e = std::io::Error::last_os_error();
            bail!(
                "entering network namespace {:?}: {e}",
                cfg.netns.as_deref().unwrap_or_default()
            );
        }
    }
    let sock = RouteSocket::open(opts.rcvbuf).context("opening the rtnetlink socket")?;
    tracing::info!(
        netns = cfg.netns.as_deref().unwrap_or("(fibred's own)"),
        table = cfg.table,
        into_table = cfg.into_table,
        rcvbuf = sock.rcvbuf,
        "kernel route mirror subscribed"
    );
    Ok(sock)
}

/// Sleeps up to `d`, waking to check for a stop.
fn pause(feed: &SourceFeed, d: Duration) {
    let until = Instant::now() + d;
    while !feed.stopping() {
        let now = Instant::now();
        if now >= until {
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

/// The thread: dumps when due, reads everything there is, hands the requests over.
fn run(
    sock: RouteSocket,
    cfg: &KernelSourceConfig,
    opts: &KernelOptions,
    feed: &SourceFeed,
    counters: Arc<KernelCounters>,
) {
    let status = feed.status.clone();
    let mut mirror = Mirror::new(
        cfg.table,
        cfg.into_table,
        cfg.distance,
        DumpPolicy {
            attempts: opts.dump_attempts.max(1),
            retry_after: opts.retry_after,
        },
        status.clone(),
        counters.clone(),
        Instant::now(),
    );
    let mut sock = Some(sock);
    let mut seq: u32 = 0;
    // Netlink datagrams are at most a page or 32 KiB (dump parts); twice that.
    let mut buf = vec![0u8; 64 << 10];
    let mut progress = Instant::now();
    while !feed.stopping() {
        let s = match &sock {
            Some(s) => s,
            None => {
                pause(feed, opts.retry_after);
                match RouteSocket::open(opts.rcvbuf) {
                    Ok(s) => {
                        SourceStatus::bump(&counters.reopens);
                        sock = Some(s);
                        continue;
                    }
                    Err(e) => {
                        status.set_error(format!("reopening the rtnetlink socket: {e}"));
                        continue;
                    }
                }
            }
        };
        status.connected.store(true, Release);
        let now = Instant::now();
        if mirror.dump_due(now) {
            seq = seq.wrapping_add(1).max(1);
            match s.request_dump(seq) {
                Ok(()) => {
                    mirror.begin_dump(seq);
                    progress = now;
                }
                Err(e) => mirror.dump_failed(now, e),
            }
        }
        let timeout = mirror
            .next_due()
            .map_or(Duration::from_millis(100), |t| {
                t.saturating_duration_since(now)
            })
            .min(Duration::from_millis(100));
        let mut failed = None;
        match s.wait(timeout) {
            Ok(_) => {}
            Err(e) => failed = Some(e),
        }
        // Read what is there, a bounded number of datagrams per round so requests
        // flow and a stop is seen.
        for _ in 0..1024 {
            if failed.is_some() {
                break;
            }
            match s.recv(&mut buf) {
                Ok(n) if n > buf.len() => {
                    tracing::warn!(len = n, "netlink datagram truncated");
                    mirror.on_overflow(Instant::now());
                }
                Ok(n) => {
                    let was_dumping = mirror.dumping();
                    mirror.on_datagram(&buf[..n], s.port, Instant::now());
                    if was_dumping {
                        progress = Instant::now();
                    }
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => break,
                    Some(libc::EINTR) => {}
                    Some(libc::ENOBUFS) => mirror.on_overflow(Instant::now()),
                    _ => failed = Some(e),
                },
            }
        }
        for r in mirror.take_requests() {
            if !feed.send(r) {
                // The control thread is gone: fibred is stopping.
                status.connected.store(false, Release);
                return;
            }
        }
        status.routes.store(mirror.routes() as u64, Relaxed);
        if mirror.dumping() && progress.elapsed() > opts.dump_stall {
            failed = Some(std::io::Error::other(format!(
                "no dump progress for {:?}",
                opts.dump_stall
            )));
        }
        if let Some(e) = failed {
            status.set_error(format!("rtnetlink socket: {e}; reopening"));
            status.connected.store(false, Release);
            sock = None;
            mirror.disconnected(Instant::now());
        }
    }
    status.connected.store(false, Release);
}
