//! The journal: what the operator changed at runtime, so it survives a restart.
//!
//! Every request that changed state (route, nexthop, neighbour and address
//! requests that succeeded) is appended as one JSON line, in the order it was
//! applied. At start-up `fibred` builds the state from its configuration file, then
//! replays the journal through the same request handler, which reproduces the same
//! state: the journal is the saved configuration's delta, not a separate format.
//! It is never compacted: it grows by one line per change for the daemon's life
//! (a route added and deleted stays as two lines). A line is a few hundred bytes,
//! so a million changes is a few hundred MB and a replay of seconds; compaction
//! (rewrite as today's state, renamed into place) is left for when that matters.

use crate::proto::Request;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An open journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
    entries: u64,
}

/// A journal line that could not be read back.
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

impl Journal {
    /// Reads the requests saved in `path` (none if it does not exist), then opens it
    /// for appending.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Request>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut saved = Vec::new();
        match File::open(path) {
            Ok(f) => {
                for (i, line) in BufReader::new(f).lines().enumerate() {
                    let line = line.map_err(io)?;
                    if line.trim().is_empty() {
                        continue;
                    }
                    let req: Request =
                        serde_json::from_str(&line).map_err(|e| JournalError::Corrupt {
                            path: path.to_owned(),
                            line: i + 1,
                            message: e.to_string(),
                        })?;
                    saved.push(req);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        let entries = saved.len() as u64;
        Ok((
            Journal {
                path: path.to_owned(),
                out: BufWriter::new(file),
                entries,
            },
            saved,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Appends requests and flushes them to the file.
    pub fn append(&mut self, requests: &[Request]) -> Result<(), JournalError> {
        if requests.is_empty() {
            return Ok(());
        }
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        for r in requests {
            serde_json::to_writer(&mut self.out, r).map_err(|e| io(std::io::Error::other(e)))?;
            self.out.write_all(b"\n").map_err(io)?;
        }
        self.out.flush().map_err(io)?;
        self.entries += requests.len() as u64;
        Ok(())
    }
}

/// A journal written by a thread of its own, so serialising a large `route load`
/// never holds up the control loop. Requests reach it in the order they were
/// applied; dropping the writer flushes everything and joins the thread.
#[derive(Debug)]
pub struct JournalWriter {
    tx: Option<std::sync::mpsc::Sender<Vec<Request>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JournalWriter {
    pub fn spawn(mut journal: Journal) -> std::io::Result<JournalWriter> {
        let (tx, rx) = std::sync::mpsc::channel::<Vec<Request>>();
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                for batch in rx {
                    if let Err(e) = journal.append(&batch) {
                        tracing::error!(error = %e, "cannot save runtime changes");
                    }
                }
            })?;
        Ok(JournalWriter {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues requests for the journal (never blocks).
    pub fn append(&self, requests: Vec<Request>) {
        if requests.is_empty() {
            return;
        }
        if let Some(tx) = &self.tx {
            // The thread only ends when `tx` is dropped, so this cannot fail.
            let _ = tx.send(requests);
        }
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{RouteDel, RouteSpec, RouteTarget};

    #[test]
    fn appended_requests_read_back_in_order() {
        let dir = std::env::temp_dir().join(format!("fibre-journal-{}", std::process::id()));
        let path = dir.join("state.journal");
        let _ = std::fs::remove_dir_all(&dir);
        let add = Request::RouteAdd(RouteSpec {
            table: 254,
            prefix: "10.0.0.0/8".parse().unwrap(),
            target: RouteTarget::Blackhole,
            protocol: fib::Protocol::Static,
            distance: None,
        });
        let del = Request::RouteDel(RouteDel {
            table: 254,
            prefix: "10.0.0.0/8".parse().unwrap(),
            protocol: fib::Protocol::Static,
        });
        {
            let (mut j, saved) = Journal::open(&path).unwrap();
            assert!(saved.is_empty());
            j.append(&[add.clone(), del.clone()]).unwrap();
        }
        let (j, saved) = Journal::open(&path).unwrap();
        assert_eq!(saved, vec![add, del]);
        assert_eq!(j.entries(), 2);
        std::fs::write(&path, "{\"route_add\": 5}\n").unwrap();
        let err = Journal::open(&path).unwrap_err().to_string();
        assert!(err.contains(":1: "), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
