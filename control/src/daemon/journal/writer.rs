//! The journal's own thread: serialising a large `route load` and fsyncing never
//! holds up the control loop, which keeps the replies until the writer says their
//! changes are durable.

use super::{compact, Entry, Journal};
use crate::config::JournalConfig;
use crate::proto::Request;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a submission stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Durability {
    /// Not written yet.
    Pending,
    /// Written (and fsynced under `fsync = "always"`).
    Durable,
    /// The journal failed at or before it: not saved. Says why.
    Failed(String),
}

#[derive(Debug, Default)]
struct Shared {
    /// Every submission up to this ticket is durable.
    durable: AtomicU64,
    /// The first ticket that could not be saved, and why; nothing after it is.
    failed: Mutex<Option<(u64, String)>>,
}

/// A journal written by a thread of its own. Submissions get increasing tickets
/// and are written in that order; dropping the writer writes everything submitted
/// and joins the thread.
#[derive(Debug)]
pub struct JournalWriter {
    tx: Option<Sender<(u64, Vec<Entry>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
    /// The last ticket handed out.
    submitted: AtomicU64,
}

impl JournalWriter {
    /// A writer with the default settings (fsync always, compaction at 64 MiB).
    pub fn spawn(journal: Journal) -> std::io::Result<JournalWriter> {
        JournalWriter::spawn_with(journal, JournalConfig::default())
    }

    pub fn spawn_with(mut journal: Journal, cfg: JournalConfig) -> std::io::Result<JournalWriter> {
        let (tx, rx) = channel::<(u64, Vec<Entry>)>();
        let shared = Arc::new(Shared {
            durable: AtomicU64::new(0),
            failed: Mutex::new(None),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                // The size after the last compaction: compact again at twice it, so
                // a state bigger than `compact_bytes` is not rewritten every turn.
                let mut base = journal.len();
                while let Ok((mut last, mut entries)) = rx.recv() {
                    // Group commit: everything queued meanwhile, one write, one fsync.
                    while let Ok((t, more)) = rx.try_recv() {
                        last = t;
                        entries.extend(more);
                    }
                    let first_failed = state.failed.lock().unwrap().as_ref().map(|f| f.0);
                    if first_failed.is_some() {
                        // Nothing after a failure: the file may end in a torn line.
                        continue;
                    }
                    let first = state.durable.load(Ordering::Acquire) + 1;
                    if let Err(e) = journal.append_entries(&entries) {
                        tracing::error!(error = %e, "cannot save runtime changes: refusing changes from now on");
                        *state.failed.lock().unwrap() = Some((first, e.to_string()));
                        continue;
                    }
                    state.durable.store(last, Ordering::Release);
                    if cfg.compact_bytes > 0
                        && journal.len() >= cfg.compact_bytes
                        && journal.len() >= base.saturating_mul(2)
                    {
                        match compact_file(&mut journal) {
                            Ok(()) => base = journal.len(),
                            Err(e) => {
                                tracing::error!(error = %e, "cannot compact the journal: refusing changes from now on");
                                *state.failed.lock().unwrap() = Some((last + 1, e));
                            }
                        }
                    }
                }
            })?;
        Ok(JournalWriter {
            tx: Some(tx),
            thread: Some(thread),
            shared,
            submitted: AtomicU64::new(0),
        })
    }

    /// Queues requests with nothing more to say (never blocks); returns their ticket.
    pub fn append(&self, requests: Vec<Request>) -> u64 {
        self.submit(requests.into_iter().map(Entry::bare).collect())
    }

    /// Queues entries (never blocks); returns their ticket, or the last one handed
    /// out if there are none.
    pub fn submit(&self, entries: Vec<Entry>) -> u64 {
        if entries.is_empty() {
            return self.submitted.load(Ordering::Relaxed);
        }
        let ticket = self.submitted.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(tx) = &self.tx {
            // The thread only ends when `tx` is dropped, so this cannot fail.
            let _ = tx.send((ticket, entries));
        }
        ticket
    }

    /// The last ticket handed out.
    pub fn submitted(&self) -> u64 {
        self.submitted.load(Ordering::Relaxed)
    }

    /// Where the submission with `ticket` stands (ticket 0: nothing, durable).
    pub fn durability(&self, ticket: u64) -> Durability {
        if let Some((first, why)) = &*self.shared.failed.lock().unwrap() {
            if ticket >= *first {
                return Durability::Failed(why.clone());
            }
        }
        if ticket <= self.shared.durable.load(Ordering::Acquire) {
            Durability::Durable
        } else {
            Durability::Pending
        }
    }

    /// Why the journal failed, once it has: no change is saved after that.
    pub fn failed(&self) -> Option<String> {
        self.shared
            .failed
            .lock()
            .unwrap()
            .as_ref()
            .map(|f| f.1.clone())
    }

    /// Waits until everything submitted is durable or the journal has failed.
    pub fn sync(&self) -> Durability {
        let ticket = self.submitted();
        loop {
            match self.durability(ticket) {
                Durability::Pending => std::thread::sleep(Duration::from_micros(100)),
                d => return d,
            }
        }
    }
}

/// Rewrites the journal's file in its compacted form.
fn compact_file(journal: &mut Journal) -> Result<(), String> {
    let before = journal.len();
    let (loaded, _) = Journal::load(journal.path()).map_err(|e| e.to_string())?;
    let entries = compact::compact(loaded.entries);
    journal.rewrite(&entries).map_err(|e| e.to_string())?;
    tracing::info!(path = %journal.path().display(), before, after = journal.len(), entries = entries.len(), "journal compacted");
    Ok(())
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
