//! Journal replay at start-up over arbitrary file contents: the input (after its
//! first byte) is written as the journal file (on tmpfs, `/dev/shm`, one file per
//! process) and `daemon::startup::restore_with` replays it over a fresh router (two
//! ports with addresses, no cores), exactly as `fibred` starts: `Journal::load`
//! (lines, the torn last line, corruption elsewhere), entries mapped onto this
//! run's nexthop ids, each applied through `Router::handle`, and the rewrite
//! (compaction) when ids moved or the file is over `compact_bytes`. The first byte's
//! low bit sets `compact_bytes` to 1 (always compact) or 0 (never, unless ids moved).
//!
//! Invariants: no panic; a file restores if and only if it loads; restoring the
//! file the first restore left (truncated, remapped, compacted) again — a second
//! restart — gives the router the same routes, nexthops and addresses.

#![no_main]

use control::config::{Fsync, JournalConfig};
use control::daemon::journal::Journal;
use control::daemon::startup::restore_with;
use control::proto::Reply;
use fibre_fuzz::{restart_view, router};
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("fibre-fuzz-journal-{}.json", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, contents)) = data.split_first() else {
        return;
    };
    let cfg = JournalConfig {
        fsync: Fsync::Never,
        compact_bytes: u64::from(flags & 1),
    };
    let path = path();
    std::fs::write(path, contents).expect("writing the journal file");
    let refused = Journal::load(path)
        .ok()
        .map(|(loaded, _)| refuses(&loaded.entries));

    let mut first = router();
    let writer = match restore_with(&mut first, path, &cfg) {
        Ok(w) => w,
        // Corrupt before its last line: start-up is refused (with file:line).
        Err(e) => {
            let shown = format!("{e:#}");
            assert!(shown.contains(&*path.to_string_lossy()), "{shown}");
            assert!(
                refused.is_none(),
                "a journal that loads is refused: {shown}"
            );
            return;
        }
    };
    assert!(refused.is_some(), "a journal that restores loads");
    drop(writer);
    let after_first = restart_view(&mut first);

    let mut second = router();
    let writer = restore_with(&mut second, path, &cfg)
        .unwrap_or_else(|e| panic!("the journal the first restore left is refused: {e:#}"));
    drop(writer);
    assert_eq!(
        restart_view(&mut second),
        after_first,
        "a second restart restored another state"
    );
});

/// Whether replaying `entries` (as `restore_with` does: nexthop ids mapped onto
/// this run's) on a fresh router refuses any of them.
fn refuses(entries: &[control::daemon::journal::Entry]) -> bool {
    let mut r = router();
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let mut refused = false;
    for e in entries {
        let mut e = e.clone();
        e.map_nexthops(&|id| ids.get(&id).copied().unwrap_or(id));
        match r.handle(e.request.clone()) {
            Ok(Reply::NexthopAdded(a)) => {
                if let Some(was) = e.nexthop {
                    ids.insert(was, a.id);
                }
            }
            Ok(_) => {}
            Err(_) => refused = true,
        }
    }
    refused
}
