//! `fibred`'s configuration file (TOML), documented in `docs/CONFIG.md`.
//!
//! Loading is two passes. Serde reads the file into `Raw*` structs that keep the
//! source span of every value a later check may complain about (`toml::Spanned`);
//! syntax and type errors come from the `toml` crate with their position. Then
//! [`Config::parse`] checks what serde cannot (unknown port names, duplicates,
//! gateways outside every interface subnet, ...) and names the line and column of
//! the offending value. The result is a [`Config`] with ports resolved to indexes
//! and every route's target resolved (named nexthops replaced by their target,
//! gateways given their port).
//!
//! [`raw`] is what serde reads; [`validate`] the checks.

mod cores;
mod raw;
mod validate;

use crate::interfaces::InterfaceAddr;
use crate::routes::RouteTarget;
use dataplane::wire::ethernet::EthernetAddress;
use fib::Ipv4Prefix;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The control socket's default path.
pub const DEFAULT_CONTROL_SOCKET: &str = crate::cli::DEFAULT_SOCKET;

/// A refused configuration: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// The file name as given (or `<string>`).
    pub file: String,
    /// 1-based; 0 when the error has no position (the file could not be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A port; its index in [`Config::ports`] is its `PortId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    pub name: String,
    /// The DPDK device: devargs of a virtual device (`net_memif0,role=server,...`,
    /// added to the EAL arguments as `--vdev`) or a PCI address (`-a`).
    pub device: String,
    /// Overrides the NIC's own MAC.
    pub mac: Option<EthernetAddress>,
    pub mtu: u16,
    pub addrs: Vec<InterfaceAddr>,
    /// Table (VRF) the port's traffic is routed in.
    pub table: u32,
    /// Put the device in promiscuous mode (default off): only where it must receive
    /// frames for a MAC other than its own, e.g. a `mac` override on a NIC that cannot
    /// take it. The cores drop unicast frames for other MACs (`l2_other_host`) either way.
    pub promiscuous: bool,
}

/// Which CPUs forwarding cores run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreSet {
    /// Pinned, one core per listed CPU.
    Cpus(Vec<usize>),
    /// This many cores, placed by the daemon.
    Count(usize),
}

/// Forwarding cores and their queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoresConfig {
    pub set: CoreSet,
    pub rx_ring: u32,
    pub tx_ring: u32,
    pub burst: u32,
    /// Cores yield the CPU when a loop iteration found no work (a system call per
    /// idle iteration): for machines where cores share CPUs with other work, such as
    /// tests and demos. Production cores spin (the default).
    pub yield_when_idle: bool,
    /// Cores count bytes per port (`stats`' per-core `rx_bytes`/`tx_bytes`): a
    /// read of every packet's length on receive and transmit. Off (the default) saves
    /// it; the devices' own byte counts (`link show`) are kept either way.
    pub count_bytes: bool,
}

/// FIB limits; `None` keeps the built-in default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FibLimits {
    pub max_nexthops: Option<u32>,
    pub max_tbl8_groups: Option<u32>,
    pub max_resyncs_in_a_row: Option<u32>,
    /// Events per listener ring.
    pub ring_size: Option<usize>,
    /// Seconds between audits of every core's tables against the FIB (0: none).
    pub audit_interval: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NexthopConfig {
    pub name: String,
    /// `via` (with its port) or `dev` or `blackhole`.
    pub target: RouteTarget,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub table: u32,
    pub prefix: Ipv4Prefix,
    /// Resolved: a gateway always has its port (by index), a named nexthop is
    /// replaced by its target.
    pub target: RouteTarget,
    pub distance: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourConfig {
    pub addr: Ipv4Addr,
    pub mac: EthernetAddress,
    pub port: u16,
}

/// `[kernel]`: mirror a Linux routing table over rtnetlink (`docs/SOURCES.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSourceConfig {
    /// The network namespace whose table is mirrored (a name under
    /// `/var/run/netns`); `None`: fibred's own namespace.
    pub netns: Option<String>,
    /// The kernel table mirrored (254, `main`, by default).
    pub table: u32,
    /// The fibre table the routes go into (254, `main`, by default).
    pub into_table: u32,
    /// Administrative distance of mirrored routes; the `kernel` protocol's default
    /// when `None`.
    pub distance: Option<u8>,
}

/// `[fpm]`: the FPM server FRR's zebra (`dplane_fpm_nl`) connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpmSourceConfig {
    /// Where to listen (127.0.0.1:2620, zebra's default, when not given).
    pub listen: std::net::SocketAddr,
    /// Administrative distance of FRR's routes; the `frr` protocol's default when
    /// `None`.
    pub distance: Option<u8>,
}

/// `[metrics]`: the OpenMetrics endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Where to serve `GET /metrics`; `None`: not served (`enabled = false`).
    pub listen: Option<std::net::SocketAddr>,
    /// `listen` was given: failing to bind it stops start-up. The default address
    /// is taken when free; when another process has it, fibred starts without
    /// the endpoint and logs why.
    pub required: bool,
}

/// The endpoint's default address (the port Prometheus' exporters use for
/// unlisted exporters, on loopback only).
pub const DEFAULT_METRICS_LISTEN: ([u8; 4], u16) = ([127, 0, 0, 1], 9464);

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some(std::net::SocketAddr::from(DEFAULT_METRICS_LISTEN)),
            required: false,
        }
    }
}

/// When a journaled change is durable, before its reply is sent (`[journal] fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// `"always"`: written and fsynced (one fsync per group of changes written
    /// together): survives a power cut.
    #[default]
    Always,
    /// `"never"`: written to the kernel (page cache) only: survives `fibred`
    /// crashing or being killed, not the machine losing power.
    Never,
}

/// `[journal]`: how `state_file` is written (`docs/JOURNAL.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    pub fsync: Fsync,
    /// Compact the file when it reaches this size (and twice its size after the
    /// last compaction); 0: never.
    pub compact_bytes: u64,
}

/// `compact_bytes` when the file does not say: 64 MiB.
pub const DEFAULT_COMPACT_BYTES: u64 = 64 << 20;

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            fsync: Fsync::Always,
            compact_bytes: DEFAULT_COMPACT_BYTES,
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub eal: Vec<String>,
    pub control_socket: PathBuf,
    /// Where runtime changes are saved to survive a restart (`None`: not saved).
    pub state_file: Option<PathBuf>,
    /// How `state_file` is written.
    pub journal: JournalConfig,
    pub ports: Vec<PortConfig>,
    pub cores: CoresConfig,
    pub fib: FibLimits,
    pub nexthops: Vec<NexthopConfig>,
    pub routes: Vec<RouteConfig>,
    pub neighbours: Vec<NeighbourConfig>,
    pub kernel: Option<KernelSourceConfig>,
    pub fpm: Option<FpmSourceConfig>,
    pub metrics: MetricsConfig,
}

impl Config {
    /// The port index of a name.
    pub fn port_index(&self, name: &str) -> Option<u16> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Reads and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            line: 0,
            column: 0,
            message: format!("cannot read the configuration: {e}"),
        })?;
        Self::parse(&text, &file)
    }

    /// Validates a configuration's text for this machine (`[cores] cpus` must be
    /// online CPUs); `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        Self::parse_for(text, file, &online_cpus())
    }

    /// Validates a configuration's text for a machine whose online CPUs are
    /// `online`.
    pub fn parse_for(text: &str, file: &str, online: &[usize]) -> Result<Config, ConfigError> {
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
            ConfigError {
                file: file.to_owned(),
                line,
                column,
                // The toml crate's message repeats the source excerpt; the first
                // line after its header says what is wrong.
                message: e.message().trim().to_owned(),
            }
        })?;
        validate::Validator { text, file, online }.validate(raw)
    }
}

/// The CPUs online on this machine (`/sys/devices/system/cpu/online`, a list
/// like `0-3,6`); if that cannot be read, `0..available_parallelism`.
pub fn online_cpus() -> Vec<usize> {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or_else(|| {
            (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
        })
}

/// A kernel CPU list (`0-3,6`), or `None` if it is not one.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(offset - line_start, |s| s.chars().count())
        + 1;
    (line, column)
}
