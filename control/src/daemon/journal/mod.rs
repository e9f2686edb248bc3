//! The journal: what the operator changed at runtime, so it survives a restart.
//!
//! Every request that changed state (route, nexthop, neighbour and address
//! requests that succeeded) is appended as one JSON line, in the order it was
//! applied. At start-up `fibred` builds the state from its configuration file, then
//! replays the journal through the same request handler, which reproduces the same
//! state: the journal is the configuration's delta, not a separate format.
//!
//! - **Durable before acknowledged.** The control loop hands a turn's changes to
//!   the [`JournalWriter`] and holds their replies until the writer says they are
//!   written (and, with `fsync = "always"`, fsynced): group commit, one write and
//!   one fsync for everything queued. A reply a client has seen is on disk.
//! - **Failure stops changes, not the router.** If a write or fsync fails, the
//!   changes in it are answered with an `internal` error ("applied but not saved"),
//!   nothing more is ever appended, and every later state-changing request is
//!   refused; reads and forwarding go on. A restart returns to the saved state.
//! - **Torn tail.** A crash can cut the last line short: at start-up an invalid
//!   last line is dropped with a warning and the file truncated to the lines before
//!   it. An invalid line anywhere else refuses start-up with `file:line`.
//! - **Compaction.** When the file reaches `compact_bytes` (and twice its size after
//!   the last compaction), it is rewritten in a minimal form ([`compact`]) into a
//!   temporary file in the same directory, fsynced, renamed over, and the directory
//!   fsynced.
//!
//! A line is a bare request, or `{"request": ..., "nexthop": ID}` for a
//! `nexthop_add` (the id it got, so routes naming it can be replayed onto the id it
//! gets at the next start), or `{"request": ..., "uncertain": true}` for a
//! `route_load` some of whose routes were refused without the reply saying which.
//! `docs/JOURNAL.md` has the details.

pub mod compact;
mod writer;

#[cfg(test)]
mod tests;

pub use writer::{Durability, JournalWriter};

use crate::config::{Fsync, JournalConfig};
use crate::proto::{Reply, Request, Response, RouteTarget};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// One journal line: a request that changed state, and what its reply said that a
/// replay needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub request: Request,
    /// The id a `nexthop_add` got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nexthop: Option<u32>,
    /// A `route_load` whose refused routes are not all known.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
}

impl Entry {
    /// A request with nothing more to say (as older journals hold them).
    pub fn bare(request: Request) -> Entry {
        Entry {
            request,
            nexthop: None,
            uncertain: false,
        }
    }

    /// The entry for a request that was applied and answered `response`. A
    /// `route_load`'s refused routes changed nothing and are left out when the
    /// reply names them all.
    pub fn of(mut request: Request, response: &Response) -> Entry {
        let mut entry = Entry::bare(Request::Hello);
        match (&mut request, response) {
            (Request::NexthopAdd(_), Ok(Reply::NexthopAdded(a))) => entry.nexthop = Some(a.id),
            (Request::RouteLoad(batch), Ok(Reply::BatchApplied(applied))) if applied.failed > 0 => {
                if applied.errors.len() == applied.failed {
                    let refused: std::collections::HashSet<usize> =
                        applied.errors.iter().map(|e| e.index).collect();
                    let mut i = 0;
                    batch.routes.retain(|_| {
                        i += 1;
                        !refused.contains(&(i - 1))
                    });
                } else {
                    entry.uncertain = true;
                }
            }
            _ => {}
        }
        entry.request = request;
        entry
    }

    /// One line, without its newline.
    fn write_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        if self.nexthop.is_none() && !self.uncertain {
            serde_json::to_writer(out, &self.request)
        } else {
            serde_json::to_writer(out, self)
        }
        .map_err(std::io::Error::other)
    }

    fn parse(line: &str) -> Result<Entry, serde_json::Error> {
        // `{"request": ...}` is an entry; anything else a bare request.
        let v: serde_json::Value = serde_json::from_str(line)?;
        if v.get("request").is_some() {
            serde_json::from_value(v)
        } else {
            serde_json::from_value(v).map(Entry::bare)
        }
    }

    /// Rewrites the nexthop ids this entry names through `map` (journal id → id
    /// in this run).
    pub fn map_nexthops(&mut self, map: &impl Fn(u32) -> u32) {
        fn target(t: &mut RouteTarget, map: &impl Fn(u32) -> u32) {
            match t {
                RouteTarget::Nexthop(id) => *id = map(*id),
                RouteTarget::Multipath(paths) => paths.iter_mut().for_each(|p| target(p, map)),
                _ => {}
            }
        }
        match &mut self.request {
            Request::RouteAdd(s) | Request::RouteReplace(s) => target(&mut s.target, map),
            Request::RouteLoad(b) => b.routes.iter_mut().for_each(|r| target(&mut r.target, map)),
            Request::NexthopDel(d) => d.id = map(d.id),
            _ => {}
        }
    }
}

/// Whether a request changes state the journal keeps (the requests
/// `dispatch` marks `Keep`; a test holds the two lists together). Used to refuse
/// changes once the journal has failed, before they are applied.
pub fn journaled(r: &Request) -> bool {
    match r {
        Request::RouteAdd(_)
        | Request::RouteReplace(_)
        | Request::RouteDel(_)
        | Request::RouteLoad(_)
        | Request::NexthopAdd(_)
        | Request::NexthopDel(_)
        | Request::NeighAdd(_)
        | Request::NeighDel(_)
        | Request::AddrAdd(_)
        | Request::AddrDel(_) => true,
        Request::Hello
        | Request::RouteShow(_)
        | Request::RouteGet(_)
        | Request::NexthopShow
        | Request::NeighShow(_)
        | Request::AddrShow(_)
        | Request::LinkShow(_)
        | Request::CoreShow
        | Request::CoreAdd(_)
        | Request::CoreDel(_)
        | Request::FibStatus
        | Request::Metrics
        | Request::Monitor(_)
        | Request::FibAudit(_)
        | Request::Stats
        | Request::SourceShow => false,
    }
}

/// A journal that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("journal {path}:{line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What [`Journal::load`] read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<Entry>,
    /// The last line, dropped because it was cut short or invalid: why.
    pub torn: Option<String>,
}

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    entries: u64,
    fsync: Fsync,
    /// The file's length.
    len: u64,
}

impl Journal {
    /// Reads the requests saved in `path` (none if it does not exist), then opens it
    /// for appending (default settings).
    pub fn open(path: &Path) -> Result<(Journal, Vec<Request>), JournalError> {
        let (j, loaded) = Journal::open_entries(path, &JournalConfig::default())?;
        Ok((j, loaded.entries.into_iter().map(|e| e.request).collect()))
    }

    /// Reads the entries saved in `path`, drops a torn last line (truncating the
    /// file to the lines before it), then opens it for appending.
    pub fn open_entries(
        path: &Path,
        cfg: &JournalConfig,
    ) -> Result<(Journal, Loaded), JournalError> {
        let (loaded, good_len) = Journal::load(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io_err(path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_err(path, e))?;
        if loaded.torn.is_some() {
            file.set_len(good_len).map_err(|e| io_err(path, e))?;
            file.sync_all().map_err(|e| io_err(path, e))?;
        }
        let entries = loaded.entries.len() as u64;
        Ok((
            Journal {
                path: path.to_owned(),
                out: BufWriter::new(file),
                entries,
                fsync: cfg.fsync,
                len: good_len,
            },
            loaded,
        ))
    }

    /// Reads `path` (empty if it does not exist): its entries, and the length of
    /// the lines kept.
    pub fn load(path: &Path) -> Result<(Loaded, u64), JournalError> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes).map_err(|e| io_err(path, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, e)),
        }
        let mut loaded = Loaded::default();
        let mut start = 0;
        let mut line_no = 0;
        while start < bytes.len() {
            line_no += 1;
            let (end, next, complete) = match bytes[start..].iter().position(|&b| b == b'\n') {
                Some(i) => (start + i, start + i + 1, true),
                None => (bytes.len(), bytes.len(), false),
            };
            let last = next >= bytes.len();
            let parsed = std::str::from_utf8(&bytes[start..end])
                .map_err(|e| e.to_string())
                .and_then(|line| {
                    if line.trim().is_empty() {
                        Ok(None)
                    } else {
                        Entry::parse(line).map(Some).map_err(|e| e.to_string())
                    }
                });
            match parsed {
                // A line without its newline was never acknowledged.
                Ok(_) if !complete => {
                    loaded.torn = Some(format!("line {line_no} has no newline"));
                    return Ok((loaded, start as u64));
                }
                Ok(Some(e)) => loaded.entries.push(e),
                Ok(None) => {}
                Err(message) if last => {
                    loaded.torn = Some(format!("line {line_no}: {message}"));
                    return Ok((loaded, start as u64));
                }
                Err(message) => {
                    return Err(JournalError::Corrupt {
                        path: path.to_owned(),
                        line: line_no,
                        message,
                    })
                }
            }
            start = next;
        }
        Ok((loaded, bytes.len() as u64))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The file's length.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends requests with nothing more to say.
    pub fn append(&mut self, requests: &[Request]) -> Result<(), JournalError> {
        let entries: Vec<Entry> = requests.iter().cloned().map(Entry::bare).collect();
        self.append_entries(&entries)
    }

    /// Appends entries, writes them to the file and, under `fsync = "always"`,
    /// fsyncs it. After an error the file may end in a torn line.
    pub fn append_entries(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for e in entries {
            e.write_to(&mut buf).map_err(|e| io_err(&self.path, e))?;
            buf.push(b'\n');
        }
        self.out
            .write_all(&buf)
            .and_then(|()| self.out.flush())
            .map_err(|e| io_err(&self.path, e))?;
        if self.fsync == Fsync::Always {
            self.out
                .get_ref()
                .sync_data()
                .map_err(|e| io_err(&self.path, e))?;
        }
        self.len += buf.len() as u64;
        self.entries += entries.len() as u64;
        Ok(())
    }

    /// Replaces the file by `entries` atomically: a temporary file in the same
    /// directory, fsynced, renamed over the journal, the directory fsynced; then
    /// appends go to the new file.
    pub fn rewrite(&mut self, entries: &[Entry]) -> Result<(), JournalError> {
        let (file, len) = write_atomically(&self.path, entries)?;
        self.out = BufWriter::new(file);
        self.entries = entries.len() as u64;
        self.len = len;
        Ok(())
    }
}

/// Writes `entries` to `path` through a temporary file renamed over it; returns
/// the file, positioned at its end, and its length.
pub fn write_atomically(path: &Path, entries: &[Entry]) -> Result<(File, u64), JournalError> {
    let io = |e| io_err(path, e);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".compact");
    let tmp = dir.join(tmp_name);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io)?;
    let mut out = BufWriter::new(file);
    let mut len = 0u64;
    let mut line = Vec::new();
    for e in entries {
        line.clear();
        e.write_to(&mut line).map_err(io)?;
        line.push(b'\n');
        out.write_all(&line).map_err(io)?;
        len += line.len() as u64;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok((file, len))
}

fn io_err(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.to_owned(),
        source,
    }
}
