//! The control socket: a Unix-domain stream listener the daemon's control loop polls.
//!
//! Nothing here ever blocks the caller. Each [`Server::poll`] accepts a bounded
//! number of clients, reads a bounded number of bytes and requests per client, and
//! writes what the sockets take; the rest waits for the next poll. A client is held
//! to three bounds so it cannot hurt the loop or the other clients:
//!
//! - a request line longer than [`ServerConfig::max_line`] is answered with a
//!   `too_long` error and the client is disconnected (its buffer never grows past it);
//! - responses it does not read are queued up to [`ServerConfig::max_write_queue`]
//!   bytes; past that, or after [`ServerConfig::write_stall_timeout`] without any
//!   progress, it is disconnected rather than waited for. Big answers are
//!   [`ReplyStream`]s, produced only as the client reads ([`Server::reply_stream`]),
//!   at most [`ServerConfig::stream_bytes_per_poll`] per poll over all clients; and
//!   all clients together hold at most [`ServerConfig::max_queued_total`] bytes of
//!   encoded replies (past it, a reply is replaced by a `limit` error);
//! - garbage (not JSON, a wrong version) is answered with an error, then the
//!   connection is closed; EOF and errors such as ECONNRESET drop it.
//!
//! Every drop is counted in [`ServerStats`].

mod output;

pub use output::ReplyStream;

use crate::proto::{decode_request, encode_response, ErrorKind, ErrorReply, Request, Response};
use output::Output;
use std::io::{self, ErrorKind as IoErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A client's id: never reused while the server lives, so a late reply cannot reach
/// a different client that got the same socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientId(pub u64);

/// The server's bounds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Longest request line accepted (bytes, newline excluded). A 10k-route batch is
    /// about 0.6 MB.
    pub max_line: usize,
    /// Response bytes queued for one client before it is disconnected as too slow.
    /// A single response larger than this is replaced by a `limit` error.
    pub max_write_queue: usize,
    /// A client with queued responses and no write progress for this long is dropped.
    pub write_stall_timeout: Duration,
    /// Clients connected at once; more are accepted, told so, and closed.
    pub max_clients: usize,
    /// New connections accepted per poll.
    pub accepts_per_poll: usize,
    /// Bytes read from one client per poll.
    pub read_budget: usize,
    /// Requests decoded from one client per poll (the rest wait in its buffer).
    pub requests_per_poll: usize,
    /// Permission bits of the socket file.
    pub mode: u32,
    /// Encoded reply bytes queued over all clients; a reply past it is replaced by
    /// a `limit` error.
    pub max_queued_total: usize,
    /// Bytes of streamed replies produced per poll, over all clients: what bounds
    /// the loop's turn when many clients dump big tables.
    pub stream_bytes_per_poll: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_line: 16 << 20,
            max_write_queue: 256 << 20,
            write_stall_timeout: Duration::from_secs(10),
            max_clients: 256,
            accepts_per_poll: 8,
            read_budget: 1 << 20,
            requests_per_poll: 64,
            mode: 0o660,
            max_queued_total: 512 << 20,
            stream_bytes_per_poll: 1 << 20,
        }
    }
}

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another fibred is already answering on {0}")]
    AlreadyRunning(PathBuf),
    #[error("{0} exists and is not a socket; refusing to replace it")]
    NotASocket(PathBuf),
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Counters, for `stats` and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub accepted: u64,
    pub active: usize,
    /// Clients that closed their end (EOF) cleanly.
    pub closed: u64,
    /// Clients refused because `max_clients` were connected.
    pub refused: u64,
    pub dropped_too_long: u64,
    pub dropped_slow: u64,
    pub dropped_garbage: u64,
    /// Read or write errors (ECONNRESET, EPIPE, ...).
    pub dropped_error: u64,
    pub requests: u64,
    /// Request lines answered with an error by the server itself.
    pub bad_requests: u64,
    /// Replies to clients that were gone.
    pub replies_discarded: u64,
    /// Replies replaced by a `limit` error because clients held too many unread.
    pub replies_refused: u64,
}

impl ServerStats {
    /// Clients dropped for misbehaving, for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_too_long + self.dropped_slow + self.dropped_garbage + self.dropped_error
    }
}

/// One decoded request, for the daemon to answer with [`Server::reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub client: ClientId,
    pub id: u64,
    pub request: Request,
}

struct Client {
    id: ClientId,
    stream: UnixStream,
    /// Bytes read and not yet consumed as lines.
    inbuf: Vec<u8>,
    /// How far `inbuf` has been searched for a newline.
    scanned: usize,
    /// Replies not yet written, in order.
    out: Output,
    /// When the queue last made progress (or became non-empty).
    last_progress: Instant,
    /// Answer what is queued, then close: read nothing more.
    closing: bool,
    /// What to count the client as once a closing client's queue is written.
    close_as: DropReason,
    /// Requests handed to the caller and not answered yet: a closing client stays
    /// until they are.
    pending: usize,
    /// Drop now.
    dead: Option<DropReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropReason {
    Closed,
    TooLong,
    Slow,
    Garbage,
    Error,
}

impl Client {
    fn queued(&self) -> usize {
        self.out.queued()
    }
}

/// The control-socket server.
pub struct Server {
    path: PathBuf,
    listener: UnixListener,
    cfg: ServerConfig,
    clients: Vec<Client>,
    next_id: u64,
    stats: ServerStats,
    /// Scratch for encoding one response.
    scratch: Vec<u8>,
    /// Polls so far (where the next one starts its round of clients).
    polls: u64,
}

impl Server {
    /// Binds with the default bounds.
    pub fn bind(path: impl AsRef<Path>) -> Result<Server, ServerError> {
        Self::bind_with(path, ServerConfig::default())
    }

    /// Binds the socket at `path`. A socket file already there is replaced only if no
    /// daemon answers on it (a connect is refused); anything else there is refused.
    /// The socket gets its mode before it appears at `path` (bound under a temporary
    /// name, chmodded, renamed), so there is no window with looser permissions.
    pub fn bind_with(path: impl AsRef<Path>, cfg: ServerConfig) -> Result<Server, ServerError> {
        let path = path.as_ref().to_path_buf();
        let io_err = |source| ServerError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_socket() => {
                // A refused connect means nobody is listening: the file is stale.
                if UnixStream::connect(&path).is_ok() {
                    return Err(ServerError::AlreadyRunning(path));
                }
            }
            Ok(_) => return Err(ServerError::NotASocket(path)),
            Err(e) if e.kind() == IoErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let file_name = path
            .file_name()
            .ok_or_else(|| io_err(io::Error::new(IoErrorKind::InvalidInput, "no file name")))?;
        let mut tmp_name = file_name.to_os_string();
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let listener = UnixListener::bind(&tmp).map_err(io_err)?;
        let setup = (|| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(cfg.mode))?;
            listener.set_nonblocking(true)?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = setup {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(e));
        }
        Ok(Server {
            path,
            listener,
            cfg,
            clients: Vec::new(),
            next_id: 0,
            stats: ServerStats::default(),
            scratch: Vec::new(),
            polls: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> ServerStats {
        ServerStats {
            active: self.clients.len(),
            ..self.stats
        }
    }

    /// One bounded round of socket work: accepts, reads, writes, drops. Decoded
    /// requests are appended to `out` for the caller to answer with [`Server::reply`]
    /// (now or in a later turn); malformed ones are answered here.
    pub fn poll(&mut self, out: &mut Vec<Incoming>) {
        self.accept();
        let now = Instant::now();
        let mut budget = self.cfg.stream_bytes_per_poll;
        // Start at a different client each poll, so a spent stream budget does not
        // always starve the same ones.
        let n = self.clients.len();
        let first = if n == 0 {
            0
        } else {
            (self.polls % n as u64) as usize
        };
        self.polls += 1;
        for k in 0..n {
            let i = (first + k) % n;
            self.read_client(i, out);
            self.flush_client(i, now, &mut budget);
        }
        self.reap();
    }

    /// Polls and answers every request at once with `handler`.
    pub fn serve(&mut self, mut handler: impl FnMut(ClientId, Request) -> Response) {
        let mut incoming = Vec::new();
        self.poll(&mut incoming);
        for inc in incoming {
            let response = handler(inc.client, inc.request);
            self.reply(inc.client, inc.id, &response);
        }
        // Start writing this round's answers now rather than on the next poll.
        let now = Instant::now();
        let mut budget = self.cfg.stream_bytes_per_poll;
        for i in 0..self.clients.len() {
            self.flush_client(i, now, &mut budget);
        }
        self.reap();
    }

    /// Queues the response to request `id` of `client` and tries to write it. A client
    /// that is gone is ignored (counted); one whose queue would exceed the bound is
    /// dropped.
    pub fn reply(&mut self, client: ClientId, id: u64, response: &Response) {
        let Some(i) = self.clients.iter().position(|c| c.id == client) else {
            self.stats.replies_discarded += 1;
            return;
        };
        self.clients[i].pending = self.clients[i].pending.saturating_sub(1);
        self.scratch.clear();
        encode_response(Some(id), response, &mut self.scratch);
        let total: usize = self.clients.iter().map(Client::queued).sum();
        if total + self.scratch.len() > self.cfg.max_queued_total {
            self.stats.replies_refused += 1;
            let full: Response = Err(ErrorReply::new(
                ErrorKind::Limit,
                format!(
                    "the daemon holds {total} bytes of replies its clients have not read (limit {}); read your answers, or retry later",
                    self.cfg.max_queued_total
                ),
            ));
            self.scratch.clear();
            encode_response(Some(id), &full, &mut self.scratch);
        } else if self.scratch.len() > self.cfg.max_write_queue {
            let too_big: Response = Err(ErrorReply::new(
                ErrorKind::Limit,
                format!(
                    "response of {} bytes exceeds the server's limit of {} bytes; narrow the request (filters, limit)",
                    self.scratch.len(),
                    self.cfg.max_write_queue
                ),
            ));
            self.scratch.clear();
            encode_response(Some(id), &too_big, &mut self.scratch);
        }
        self.enqueue(i);
        let mut budget = 0;
        self.flush_client(i, Instant::now(), &mut budget);
    }

    /// Queues a reply produced piecewise as `client` reads it (a big table); its
    /// bytes are made in later polls, within their stream budget.
    pub fn reply_stream(&mut self, client: ClientId, stream: Box<dyn ReplyStream>) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == client) else {
            self.stats.replies_discarded += 1;
            return;
        };
        c.pending = c.pending.saturating_sub(1);
        if c.dead.is_none() {
            if c.out.is_empty() {
                c.last_progress = Instant::now();
            }
            c.out.push_stream(stream);
        }
    }

    /// Closes every client and removes the socket file.
    pub fn shutdown(self) {
        drop(self);
    }

    fn enqueue(&mut self, i: usize) {
        let max = self.cfg.max_write_queue;
        let c = &mut self.clients[i];
        if c.dead.is_some() {
            return;
        }
        if c.queued() + self.scratch.len() > max {
            c.dead = Some(DropReason::Slow);
            return;
        }
        if c.out.is_empty() {
            c.last_progress = Instant::now();
        }
        c.out.push_bytes(&self.scratch);
    }

    fn accept(&mut self) {
        for _ in 0..self.cfg.accepts_per_poll {
            let stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return,
                Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                // EMFILE and the like: try again next poll rather than spin.
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.stats.accepted += 1;
            let id = ClientId(self.next_id);
            self.next_id += 1;
            let mut client = Client {
                id,
                stream,
                inbuf: Vec::new(),
                scanned: 0,
                out: Output::default(),
                last_progress: Instant::now(),
                closing: false,
                close_as: DropReason::Closed,
                pending: 0,
                dead: None,
            };
            if self.clients.len() >= self.cfg.max_clients {
                self.stats.refused += 1;
                self.scratch.clear();
                let busy: Response = Err(ErrorReply::new(
                    ErrorKind::Limit,
                    format!(
                        "too many clients ({} connected); try again later",
                        self.clients.len()
                    ),
                ));
                encode_response(None, &busy, &mut self.scratch);
                // One best-effort write into an empty socket buffer; then close.
                let _ = client.stream.write(&self.scratch);
                continue;
            }
            self.clients.push(client);
        }
    }

    fn read_client(&mut self, i: usize, out: &mut Vec<Incoming>) {
        let cfg = &self.cfg;
        let c = &mut self.clients[i];
        if c.dead.is_some() {
            return;
        }
        // Read up to the budget, but never hold more than one line's worth plus a
        // read chunk: the buffer is bounded whatever the client sends.
        let mut budget = cfg.read_budget;
        let mut chunk = [0u8; 64 * 1024];
        while !c.closing && budget > 0 && c.inbuf.len() <= cfg.max_line {
            let want = chunk.len().min(budget);
            match c.stream.read(&mut chunk[..want]) {
                Ok(0) => {
                    // EOF: answer what came before it, then go.
                    c.closing = true;
                    break;
                }
                Ok(n) => {
                    c.inbuf.extend_from_slice(&chunk[..n]);
                    budget -= n;
                }
                Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                Err(_) => {
                    c.dead = Some(DropReason::Error);
                    return;
                }
            }
        }
        let mut start = 0;
        let mut decoded = 0;
        while decoded < cfg.requests_per_poll {
            let Some(nl) = c.inbuf[c.scanned..].iter().position(|&b| b == b'\n') else {
                c.scanned = c.inbuf.len();
                break;
            };
            let end = c.scanned + nl;
            let line = &c.inbuf[start..end];
            c.scanned = end + 1;
            start = end + 1;
            if line.len() > cfg.max_line {
                Self::too_long(c, cfg.max_line, &mut self.scratch);
                return;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            decoded += 1;
            self.stats.requests += 1;
            match decode_request(line) {
                Ok((id, request)) => {
                    c.pending += 1;
                    out.push(Incoming {
                        client: c.id,
                        id,
                        request,
                    })
                }
                Err(e) => {
                    self.stats.bad_requests += 1;
                    self.scratch.clear();
                    encode_response(e.id, &Err(e.error), &mut self.scratch);
                    c.out.push_bytes(&self.scratch);
                    if e.fatal {
                        // Not speaking this protocol: answer once, read nothing more.
                        c.closing = true;
                        c.close_as = DropReason::Garbage;
                        c.inbuf.clear();
                        c.scanned = 0;
                        return;
                    }
                }
            }
        }
        c.inbuf.drain(..start);
        c.scanned -= start;
        if c.inbuf.len() > cfg.max_line && c.scanned >= cfg.max_line {
            Self::too_long(c, cfg.max_line, &mut self.scratch);
        } else if c.closing && !c.inbuf.is_empty() && c.scanned == c.inbuf.len() {
            // EOF in the middle of a line: nothing to answer it with.
            c.inbuf.clear();
            c.scanned = 0;
        }
    }

    fn too_long(c: &mut Client, max: usize, scratch: &mut Vec<u8>) {
        scratch.clear();
        let err: Response = Err(ErrorReply::new(
            ErrorKind::TooLong,
            format!("request line longer than {max} bytes; closing the connection"),
        ));
        encode_response(None, &err, scratch);
        c.out.push_bytes(scratch);
        c.inbuf = Vec::new();
        c.scanned = 0;
        c.closing = true;
        c.close_as = DropReason::TooLong;
    }

    /// Writes what the client's socket takes; `budget` bounds the stream bytes
    /// produced for it (and is what is left for the poll's other clients).
    fn flush_client(&mut self, i: usize, now: Instant, budget: &mut usize) {
        let stall = self.cfg.write_stall_timeout;
        let c = &mut self.clients[i];
        if c.dead.is_some() {
            return;
        }
        match c.out.write_to(&mut c.stream, budget) {
            Err(_) => {
                c.dead = Some(DropReason::Error);
                return;
            }
            Ok((_, written)) if written > 0 => c.last_progress = now,
            Ok(_) => {}
        }
        if c.out.is_empty() {
            if c.closing && c.pending == 0 && c.inbuf.is_empty() {
                c.dead = Some(c.close_as);
            }
        } else if c.out.is_bounded_stream() {
            // A subscription waits for events, or for its client to read: neither
            // is a stall (its queue is bounded and counts what it drops).
            c.last_progress = now;
        } else if now.duration_since(c.last_progress) > stall {
            c.dead = Some(DropReason::Slow);
        }
    }

    fn reap(&mut self) {
        let stats = &mut self.stats;
        self.clients.retain(|c| match c.dead {
            None => true,
            Some(reason) => {
                match reason {
                    DropReason::Closed => stats.closed += 1,
                    DropReason::TooLong => stats.dropped_too_long += 1,
                    DropReason::Garbage => stats.dropped_garbage += 1,
                    DropReason::Slow => stats.dropped_slow += 1,
                    DropReason::Error => stats.dropped_error += 1,
                }
                false
            }
        });
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
