//! From a validated configuration to a running router: the file's state as
//! requests, the journal's runtime changes replayed over it, the cores started,
//! then the route sources, then the control socket. Backend-neutral: `fibred`
//! calls [`run`] with its DPDK backend, tests with the software one.

use super::journal::{compact, Entry, Journal, JournalWriter};
use super::{serve, Backend, PortMeta, Router};
use crate::config::{Config, CoreSet, JournalConfig};
use crate::interfaces::PortRef;
use crate::proto::{AddrSpec, NeighSpec, Request, RouteSpec};
use crate::server::Server;
use anyhow::{Context, Result};
use fib::dir24::Dir24Config;
use fib::{Fib, FibConfig, Protocol, TableId};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// `[fib] audit_interval` when the file does not say: every core's tables are
/// checked against the FIB once a minute (a walk of each table in 4k-entry steps).
pub const DEFAULT_AUDIT_INTERVAL_S: u64 = 60;

/// Events per core's FIB listener ring when the file does not say.
pub const DEFAULT_LISTENER_RING: usize = 4096;

/// The configuration file's state, as the requests that build it.
pub fn config_requests(cfg: &Config) -> Vec<Request> {
    let mut out = Vec::new();
    for (i, p) in cfg.ports.iter().enumerate() {
        for a in &p.addrs {
            out.push(Request::AddrAdd(AddrSpec {
                addr: *a,
                port: PortRef::Index(i as u16),
            }));
        }
    }
    for n in &cfg.neighbours {
        out.push(Request::NeighAdd(NeighSpec {
            addr: n.addr,
            port: PortRef::Index(n.port),
            mac: Some(n.mac),
        }));
    }
    for r in &cfg.routes {
        out.push(Request::RouteReplace(RouteSpec {
            table: r.table,
            prefix: r.prefix,
            target: r.target.clone(),
            protocol: Protocol::Static,
            distance: r.distance,
        }));
    }
    out
}

/// The FIB's and the cores' DIR-24-8 tables' limits from `[fib]` (validated with
/// the file).
pub fn fib_configs(cfg: &Config) -> (FibConfig, Dir24Config) {
    let mut fib_cfg = FibConfig::default();
    if let Some(n) = cfg.fib.max_nexthops {
        fib_cfg.max_nexthops = n.min(fib_cfg.max_nexthops);
    }
    if let Some(n) = cfg.fib.max_resyncs_in_a_row {
        fib_cfg.max_resyncs_in_a_row = n;
    }
    let mut dir24 = Dir24Config::default();
    if let Some(g) = cfg.fib.max_tbl8_groups {
        dir24.tbl8_groups_max = g;
    }
    (fib_cfg, dir24)
}

/// The CPU of each configured core (`None`: placed by the daemon).
pub fn core_cpus(cfg: &Config) -> Vec<Option<usize>> {
    match &cfg.cores.set {
        CoreSet::Cpus(c) => c.iter().map(|c| Some(*c)).collect(),
        CoreSet::Count(n) => (0..*n).map(|_| None).collect(),
    }
}

/// A router over `ports` holding the configuration file's state (no cores yet).
pub fn configured_router<B: Backend>(
    cfg: &Config,
    backend: B,
    ports: Vec<PortMeta>,
) -> Result<Router<B>> {
    let (fib_cfg, _) = fib_configs(cfg);
    let ring = cfg.fib.ring_size.unwrap_or(DEFAULT_LISTENER_RING);
    let mut fib = Fib::new(fib_cfg);
    // Tables (VRFs) the file names, besides main: ports', routes', the kernel mirror's.
    let tables = cfg
        .ports
        .iter()
        .map(|p| p.table)
        .chain(cfg.routes.iter().map(|r| r.table))
        .chain(cfg.kernel.iter().map(|k| k.into_table));
    for t in tables {
        if fib.table_ids().contains(&TableId(t)) {
            continue;
        }
        fib.add_table(TableId(t))
            .map_err(|e| anyhow::anyhow!("configuration: table {t}: {e}"))?;
    }
    let mut router = Router::new(fib, backend, ports, ring);
    let audit_every = cfg.fib.audit_interval.unwrap_or(DEFAULT_AUDIT_INTERVAL_S);
    router.set_audit_interval(Some(std::time::Duration::from_secs(audit_every)));
    for r in config_requests(cfg) {
        let name = r.name();
        router
            .handle(r)
            .map_err(|e| anyhow::anyhow!("configuration {name}: {}", e.message))?;
    }
    // The file's state is the file's, not the journal's.
    router.take_journal();
    Ok(router)
}

/// Replays the journal at `path` over the router with the default journal
/// settings (see [`restore_with`]).
pub fn restore<B: Backend>(router: &mut Router<B>, path: &Path) -> Result<JournalWriter> {
    restore_with(router, path, &JournalConfig::default())
}

/// Replays the journal at `path` over the router (an entry that no longer applies
/// is logged and skipped) and returns the writer that appends new changes to it. A torn last line is dropped with a warning. Nexthop ids the journal names
/// are mapped onto the ids their `nexthop add` gets now; the file is rewritten
/// (compacted, with this run's ids) when ids moved, something was refused, or it
/// is over `compact_bytes`.
pub fn restore_with<B: Backend>(
    router: &mut Router<B>,
    path: &Path,
    cfg: &JournalConfig,
) -> Result<JournalWriter> {
    let (mut journal, loaded) = Journal::open_entries(path, cfg)?;
    if let Some(why) = &loaded.torn {
        tracing::warn!(path = %path.display(), torn = %why, "journal's last line was cut short (a crash while writing it): dropped");
    }
    let n = loaded.entries.len();
    let mut refused = 0;
    let mut moved = 0;
    let mut ids: HashMap<u32, u32> = HashMap::new();
    let mut entries = Vec::with_capacity(n);
    for mut e in loaded.entries {
        e.map_nexthops(&|id| ids.get(&id).copied().unwrap_or(id));
        let response = router.handle(e.request.clone());
        match &response {
            Ok(_) => {
                let now = Entry::of(e.request.clone(), &response);
                if let (Some(was), Some(is)) = (e.nexthop, now.nexthop) {
                    ids.insert(was, is);
                    moved += usize::from(was != is);
                }
                entries.push(now);
            }
            // Not kept: it changed nothing in this run's state, and compaction
            // takes every entry for one that applied (a first add means the key
            // held nothing before). The file is rewritten without it, so what is
            // durable is what this run holds.
            Err(err) => {
                refused += 1;
                tracing::warn!(error = %err.message, request = e.request.name(), "journal entry no longer applies: dropped from the journal");
            }
        }
    }
    router.take_journal();
    tracing::info!(path = %path.display(), entries = n, refused, nexthop_ids_moved = moved, "runtime state restored");
    if moved > 0 || refused > 0 || (cfg.compact_bytes > 0 && journal.len() >= cfg.compact_bytes) {
        let before = journal.len();
        let entries = compact::compact(entries);
        journal
            .rewrite(&entries)
            .with_context(|| format!("rewriting the journal {}", path.display()))?;
        tracing::info!(path = %path.display(), before, after = journal.len(), entries = entries.len(), "journal compacted");
    }
    JournalWriter::spawn_with(journal, *cfg).context("starting the journal writer")
}

/// Runs the daemon on `backend` until `stop` is set: configured state, journal,
/// cores, route sources, control socket, then the control loop; on the way out,
/// sources and cores are stopped and the journal flushed.
pub fn run<B: Backend>(
    cfg: &Config,
    backend: B,
    ports: Vec<PortMeta>,
    stop: &AtomicBool,
) -> Result<()> {
    let mut router = configured_router(cfg, backend, ports)?;
    let journal = match &cfg.state_file {
        Some(path) => Some(restore_with(&mut router, path, &cfg.journal)?),
        None => None,
    };
    // A device with fewer queue pairs than configured cores limits them: run
    // what it allows rather than refuse to start (the first core must start).
    for (i, cpu) in core_cpus(cfg).into_iter().enumerate() {
        match router.add_core(cpu) {
            Ok(_) => {}
            Err(e) if i == 0 => anyhow::bail!("starting a core: {}", e.message),
            Err(e) => tracing::error!(error = %e.message, ?cpu, "core not started"),
        }
    }
    // Route sources start once the cores are listening, so their first dump
    // already flows to the cores as live changes.
    if let Some(k) = &cfg.kernel {
        router.add_source(crate::source::kernel::spawn(k).context("[kernel] route mirror")?);
    }
    if let Some(f) = &cfg.fpm {
        router.add_source(crate::source::fpm::spawn(f).context("[fpm] server")?);
    }
    let mut server = Server::bind(&cfg.control_socket)
        .with_context(|| format!("control socket {}", cfg.control_socket.display()))?;
    let metrics = start_metrics(cfg)?;
    tracing::info!(socket = %cfg.control_socket.display(), routes = router.fib().stats().prefixes, "fibred ready");
    super::notify::ready(&cfg.control_socket, router.fib().stats().prefixes);
    serve::serve(&mut router, &mut server, journal.as_ref(), stop);
    tracing::info!("shutting down");
    super::notify::stopping();
    drop(metrics);
    router.stop_all();
    drop(server);
    // Writes what is queued for the journal (the replies already waited for it).
    drop(journal);
    Ok(())
}

/// The metrics endpoint of `[metrics]`: a bind failure of an address the
/// configuration names stops start-up; the default's only loses the endpoint.
fn start_metrics(cfg: &Config) -> Result<Option<crate::metrics::http::Endpoint>> {
    let Some(listen) = cfg.metrics.listen else {
        return Ok(None);
    };
    match crate::metrics::http::Endpoint::start(listen, cfg.control_socket.clone()) {
        Ok(e) => Ok(Some(e)),
        Err(e) if !cfg.metrics.required => {
            tracing::warn!(error = %e, "no metrics endpoint ([metrics] listen sets another address)");
            Ok(None)
        }
        Err(e) => Err(e.context("[metrics] listen")),
    }
}
