//! The server thread: one zebra at a time, frames in, requests out, the resync and
//! hold timers.

use super::decode::{decode_frame, Message};
use super::framing::{Frame, FrameReader};
use super::state::FpmState;
use super::Timing;
use crate::proto::Request;
use crate::source::{SourceFeed, SourceStatus};
use std::io::{ErrorKind, Read};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Bytes read per turn before the stop flag and timers are looked at again.
const READ_PER_TURN: usize = 4 << 20;

struct Conn {
    stream: TcpStream,
    peer: String,
    reader: FrameReader,
}

/// A resync under way: since when, and when zebra last sent something.
struct Resync {
    began: Instant,
    last: Instant,
    /// Requests (replaces) it caused so far.
    changed: usize,
}

pub(super) struct Server {
    listener: TcpListener,
    feed: SourceFeed,
    timing: Timing,
    state: FpmState,
    conn: Option<Conn>,
    resync: Option<Resync>,
    disconnected_at: Option<Instant>,
    buf: Vec<u8>,
}

impl Server {
    pub(super) fn new(
        listener: TcpListener,
        feed: SourceFeed,
        timing: Timing,
        distance: Option<u8>,
    ) -> Self {
        Server {
            listener,
            feed,
            timing,
            state: FpmState::new(distance),
            conn: None,
            resync: None,
            disconnected_at: None,
            buf: vec![0; 64 * 1024],
        }
    }

    fn status(&self) -> &SourceStatus {
        &self.feed.status
    }

    pub(super) fn run(mut self) {
        while !self.feed.stopping() {
            self.wait();
            if !self.accept() || !self.read() || !self.timers(Instant::now()) {
                break;
            }
            self.status()
                .routes
                .store(self.state.view().len() as u64, Ordering::Relaxed);
        }
        tracing::info!("FPM server stopped");
    }

    /// Sleeps until the listener or the connection is readable, or 50 ms.
    fn wait(&self) {
        let mut fds = vec![libc::pollfd {
            fd: self.listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(c) = &self.conn {
            fds.push(libc::pollfd {
                fd: c.stream.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the call's duration.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
    }

    /// Takes a waiting connection. A new one replaces the current one: zebra
    /// connects again only when it has given the old connection up (it restarted,
    /// or its end failed), so the newest is the one that is alive.
    fn accept(&mut self) -> bool {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        self.status()
                            .set_error(format!("FPM connection {peer}: {e}"));
                        continue;
                    }
                    if let Some(old) = self.conn.take() {
                        tracing::warn!(old = %old.peer, new = %peer, "FPM: a new zebra connection replaces the current one");
                    }
                    tracing::info!(%peer, routes = self.state.view().len(), "FPM: zebra connected; resync begins");
                    let now = Instant::now();
                    self.conn = Some(Conn {
                        stream,
                        peer: peer.to_string(),
                        reader: FrameReader::new(),
                    });
                    self.state.begin_resync();
                    self.resync = Some(Resync {
                        began: now,
                        last: now,
                        changed: 0,
                    });
                    self.disconnected_at = None;
                    self.status().connected.store(true, Ordering::Relaxed);
                    SourceStatus::bump(&self.status().resyncs);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE and the like: report, and try again on the next turn.
                    self.status().set_error(format!("FPM accept: {e}"));
                    return true;
                }
            }
        }
    }

    /// Reads what zebra sent. `false` when fibred is stopping.
    fn read(&mut self) -> bool {
        let mut total = 0;
        while total < READ_PER_TURN {
            let Some(conn) = &mut self.conn else {
                return true;
            };
            let n = match conn.stream.read(&mut self.buf) {
                Ok(0) => {
                    self.disconnect("zebra closed the connection".into());
                    return true;
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.disconnect(format!("read: {e}"));
                    return true;
                }
            };
            total += n;
            conn.reader.push(&self.buf[..n]);
            let mut msgs = Vec::new();
            let mut broken = None;
            while let Some(f) = conn.reader.next_frame() {
                match f {
                    Ok(Frame::Netlink(payload)) => {
                        for m in decode_frame(&payload) {
                            SourceStatus::bump(&self.feed.status.messages);
                            match m {
                                Ok(m) => msgs.push(m),
                                Err(skip) => {
                                    SourceStatus::bump(&self.feed.status.ignored);
                                    if skip.expected() {
                                        tracing::debug!(reason = %skip, "FPM message ignored");
                                    } else {
                                        self.feed
                                            .status
                                            .set_error(format!("FPM message ignored: {skip}"));
                                    }
                                }
                            }
                        }
                    }
                    Ok(Frame::Skipped { kind, len }) => {
                        SourceStatus::bump(&self.feed.status.ignored);
                        self.feed.status.set_error(format!(
                            "FPM frame of type {kind} ({len} bytes) skipped: only netlink (1) is spoken"
                        ));
                    }
                    Err(e) => {
                        broken = Some(e);
                        break;
                    }
                }
            }
            if let Some(r) = &mut self.resync {
                r.last = Instant::now();
            }
            if !self.apply(&msgs) {
                return false;
            }
            if let Some(e) = broken {
                SourceStatus::bump(&self.feed.status.ignored);
                self.disconnect(format!(
                    "{e}; dropping the connection (zebra reconnects and resends)"
                ));
                return true;
            }
        }
        true
    }

    fn apply(&mut self, msgs: &[Message]) -> bool {
        if msgs.is_empty() {
            return true;
        }
        let mut out = Vec::new();
        let skipped = self.state.apply_batch(msgs, &mut out);
        for (prefix, why) in skipped {
            SourceStatus::bump(&self.feed.status.ignored);
            tracing::debug!(%prefix, reason = %why, "FPM route not installed");
        }
        if let Some(r) = &mut self.resync {
            r.changed += out
                .iter()
                .filter(|r| matches!(r, Request::RouteReplace(_)))
                .count();
        }
        self.send(out)
    }

    fn send(&self, requests: Vec<Request>) -> bool {
        requests.into_iter().all(|r| self.feed.send(r))
    }

    fn disconnect(&mut self, why: String) {
        if let Some(c) = self.conn.take() {
            tracing::info!(peer = %c.peer, reason = %why, routes = self.state.view().len(),
                hold_s = self.timing.hold.as_secs_f64(), "FPM: zebra disconnected; routes kept for the hold time");
            self.status()
                .set_error(format!("FPM connection lost: {why}"));
        }
        self.status().connected.store(false, Ordering::Relaxed);
        self.disconnected_at = Some(Instant::now());
    }

    /// The end-of-resync rule and the hold after a disconnect.
    fn timers(&mut self, now: Instant) -> bool {
        if self.conn.is_some() {
            if let Some(r) = &self.resync {
                let t = &self.timing;
                let since = now.duration_since(r.began);
                let quiet = now.duration_since(r.last);
                if (since >= t.settle && quiet >= t.quiet) || since >= t.max {
                    let changed = r.changed;
                    self.resync = None;
                    let stale = self.state.end_resync();
                    let removed: Vec<String> = stale
                        .iter()
                        .filter_map(|r| match r {
                            Request::RouteDel(d) => Some(d.prefix.to_string()),
                            _ => None,
                        })
                        .collect();
                    tracing::info!(
                        routes = self.state.view().len(),
                        changed,
                        removed = removed.len(),
                        removed_prefixes = %format!("[{}]", removed.iter().take(32).cloned().collect::<Vec<_>>().join(", ")),
                        after_ms = since.as_millis() as u64,
                        "FPM resync complete"
                    );
                    return self.send(stale);
                }
            }
        } else if let Some(at) = self.disconnected_at {
            if now.duration_since(at) >= self.timing.hold {
                self.disconnected_at = None;
                self.resync = None;
                let all = self.state.clear();
                tracing::warn!(
                    removed = all.len(),
                    "FPM: zebra did not come back within the hold time; its routes are removed"
                );
                return self.send(all);
            }
        }
        true
    }
}
