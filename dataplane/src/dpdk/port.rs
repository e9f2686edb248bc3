//! Ethdev ports: configuration, start/stop, MAC, link, statistics, and the
//! per-core queue handles that implement [`Port`].

use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use std::ffi::CStr;

use dpdk_sys as sys;

use super::{strerror, DpdkError, Eal, Mbuf, Mempool, PortId, Result};
use crate::port::{Burst, Port, PortCounters};

// RSS hash types (rte_ethdev.h; function-like macros bindgen cannot see).
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
const RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
/// What fibre asks RSS to hash on: IPv4 addresses and, where the device can,
/// L4 ports (masked with what the device supports).
const RSS_WANTED: u64 =
    RSS_IPV4 | RSS_FRAG_IPV4 | RSS_NONFRAG_IPV4_TCP | RSS_NONFRAG_IPV4_UDP | RSS_NONFRAG_IPV4_OTHER;

/// How to set a port up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// RX queues (one per forwarding core).
    pub rx_queues: u16,
    /// TX queues (one per forwarding core).
    pub tx_queues: u16,
    /// RX descriptors per queue (adjusted to the device's limits).
    pub rx_desc: u16,
    /// TX descriptors per queue (adjusted to the device's limits).
    pub tx_desc: u16,
    /// Receive frames for any destination MAC (default off). A router needs it only where
    /// it must receive frames for MACs other than the port's (a device whose MAC cannot
    /// be its own on the link, say); the forwarding core drops unicast frames for other
    /// MACs (`l2_other_host`) either way, since virtual devices (net_pcap, net_ring,
    /// net_memif, net_tap) filter nothing, promiscuous or not.
    pub promiscuous: bool,
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            promiscuous: false,
        }
    }
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 when unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// The device's basic counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// RX packets dropped by the device (RX ring full).
    pub imissed: u64,
    /// Erroneous RX packets.
    pub ierrors: u64,
    /// Failed TX packets.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// One extended statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xstat {
    /// Driver-defined name.
    pub name: String,
    /// Value.
    pub value: u64,
}

/// A configured, started ethdev port. Dropping it stops and closes it.
#[derive(Debug)]
pub struct EthPort<'eal> {
    id: PortId,
    name: String,
    pool: Mempool<'eal>,
    rx_queues: u16,
    tx_queues: u16,
    rss: bool,
    driver: String,
    /// One flag per queue pair: a queue handle exists (each queue is polled
    /// by exactly one thread; DPDK queues are not thread-safe).
    claimed: Vec<AtomicBool>,
    _eal: PhantomData<&'eal Eal>,
}

fn device_name(port: PortId) -> String {
    let mut buf = [0 as std::os::raw::c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes as required.
    let ret = unsafe { sys::rte_eth_dev_get_name_by_port(port, buf.as_mut_ptr()) };
    if ret < 0 {
        return format!("port{port}");
    }
    // SAFETY: DPDK wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// The device's (RX, TX) queue limits.
pub(super) fn max_queues(id: PortId) -> Result<(u16, u16)> {
    // SAFETY: rte_eth_dev_info is plain data; all-zero is a valid value.
    let mut info: sys::rte_eth_dev_info = unsafe { core::mem::zeroed() };
    // SAFETY: valid out pointer; the port id is checked by DPDK.
    let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
    if ret < 0 {
        return Err(DpdkError::Port {
            port: id,
            device: device_name(id),
            op: "rte_eth_dev_info_get",
            errno: -ret,
            msg: strerror(ret),
        });
    }
    Ok((info.max_rx_queues, info.max_tx_queues))
}

impl<'eal> EthPort<'eal> {
    /// Configures port `id` with `cfg`, receiving into `pool`, and starts it.
    ///
    /// With more than one RX queue, RSS spreads flows over the queues when
    /// the device reports RSS hash types (`flow_type_rss_offloads`);
    /// otherwise all traffic lands on queue 0 ([`EthPort::rss`] says which).
    pub fn start(
        _eal: &'eal Eal,
        id: PortId,
        pool: Mempool<'eal>,
        cfg: &PortConfig,
    ) -> Result<Self> {
        let name = device_name(id);
        let err = |op: &'static str, ret: i32| DpdkError::Port {
            port: id,
            device: name.clone(),
            op,
            errno: -ret,
            msg: strerror(ret),
        };
        // SAFETY: rte_eth_dev_info is plain data; all-zero is a valid value.
        let mut info: sys::rte_eth_dev_info = unsafe { core::mem::zeroed() };
        // SAFETY: valid out pointer; the port id is checked by DPDK.
        let ret = unsafe { sys::rte_eth_dev_info_get(id, &mut info) };
        if ret < 0 {
            return Err(err("rte_eth_dev_info_get", ret));
        }
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: DPDK's driver name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        if cfg.rx_queues == 0
            || cfg.tx_queues == 0
            || cfg.rx_queues > info.max_rx_queues
            || cfg.tx_queues > info.max_tx_queues
        {
            return Err(DpdkError::Unsupported {
                port: id,
                device: name,
                what: format!(
                    "{} RX / {} TX queues requested; the device ({driver}) has 1..={} RX and 1..={} TX",
                    cfg.rx_queues, cfg.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
            });
        }

        // SAFETY: rte_eth_conf is plain data; zero means "defaults".
        let mut conf: sys::rte_eth_conf = unsafe { core::mem::zeroed() };
        let mut rss = false;
        if cfg.rx_queues > 1 {
            let mut hf = RSS_WANTED & info.flow_type_rss_offloads;
            if hf == 0 {
                hf = info.flow_type_rss_offloads;
            }
            if hf != 0 {
                conf.rxmode.mq_mode = sys::RTE_ETH_MQ_RX_RSS;
                conf.rx_adv_conf.rss_conf.rss_key = core::ptr::null_mut(); // driver's default key
                conf.rx_adv_conf.rss_conf.rss_hf = hf;
                rss = true;
            } else {
                tracing::warn!(
                    "port {id} ({name}, {driver}): no RSS support; all traffic will arrive on RX queue 0 of {}",
                    cfg.rx_queues
                );
            }
        }
        // SAFETY: conf is a valid, initialised configuration.
        let ret = unsafe { sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf) };
        if ret < 0 {
            return Err(err("rte_eth_dev_configure", ret));
        }
        let (mut nrx, mut ntx) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid out pointers.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nrx, &mut ntx) };
        if ret < 0 {
            return Err(err("rte_eth_dev_adjust_nb_rx_tx_desc", ret));
        }
        // SAFETY: no preconditions.
        let socket = unsafe { sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.rx_queues {
            // SAFETY: port configured; NULL rxconf means the driver default;
            // the pool outlives the port ('eal).
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(id, q, nrx, socket, core::ptr::null(), pool.as_ptr())
            };
            if ret < 0 {
                return Err(err("rte_eth_rx_queue_setup", ret));
            }
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: port configured; NULL txconf means the driver default.
            let ret = unsafe { sys::rte_eth_tx_queue_setup(id, q, ntx, socket, core::ptr::null()) };
            if ret < 0 {
                return Err(err("rte_eth_tx_queue_setup", ret));
            }
        }
        // SAFETY: queues are set up.
        let ret = unsafe { sys::rte_eth_dev_start(id) };
        if ret < 0 {
            return Err(err("rte_eth_dev_start", ret));
        }
        let port = EthPort {
            id,
            name: name.clone(),
            pool,
            rx_queues: cfg.rx_queues,
            tx_queues: cfg.tx_queues,
            rss,
            driver,
            claimed: (0..cfg.rx_queues.max(cfg.tx_queues))
                .map(|_| AtomicBool::new(false))
                .collect(),
            _eal: PhantomData,
        };
        // Set either way: a device may start promiscuous, or have been left so by an
        // earlier start in this process.
        let (op, ret) = if cfg.promiscuous {
            // SAFETY: port started.
            let ret = unsafe { sys::rte_eth_promiscuous_enable(id) };
            ("rte_eth_promiscuous_enable", ret)
        } else {
            // SAFETY: port started.
            let ret = unsafe { sys::rte_eth_promiscuous_disable(id) };
            ("rte_eth_promiscuous_disable", ret)
        };
        // Virtual devices without the notion (net_ring, net_null) answer ENOTSUP: not an
        // error for them.
        if ret < 0 && ret != -(libc_enotsup()) {
            return Err(err(op, ret));
        }
        Ok(port)
    }

    /// Port id.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// Device name (e.g. `net_ring0`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Driver name (e.g. `net_ring`).
    pub fn driver(&self) -> &str {
        &self.driver
    }

    /// Whether the device spreads incoming flows over all its RX queues by itself
    /// (a NIC's RSS, a tap's per-flow queue choice, af_packet fanout), so every
    /// configured queue gets traffic and must be polled. Not the virtual devices
    /// whose queues are separate channels their peer or configuration addresses one
    /// by one: polling a memif queue its peer never connected reads the connected
    /// one's ring a second time (seen with DPDK 22.11: every frame received twice),
    /// and a spare null or pcap queue only makes traffic nobody asked for.
    pub fn spreads_flows(&self) -> bool {
        !matches!(
            self.driver.as_str(),
            "net_memif" | "net_ring" | "net_pcap" | "net_null"
        )
    }

    /// Whether RSS spreads traffic over the RX queues.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// Configured RX and TX queue counts.
    pub fn queues(&self) -> (u16, u16) {
        (self.rx_queues, self.tx_queues)
    }

    /// The pool RX queues receive into.
    pub fn mempool(&self) -> Mempool<'eal> {
        self.pool
    }

    fn error(&self, op: &'static str, ret: i32) -> DpdkError {
        DpdkError::Port {
            port: self.id,
            device: self.name.clone(),
            op,
            errno: -ret,
            msg: strerror(ret),
        }
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut a = sys::rte_ether_addr::default();
        // SAFETY: valid out pointer.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.id, &mut a) };
        if ret < 0 {
            return Err(self.error("rte_eth_macaddr_get", ret));
        }
        Ok(a.addr_bytes)
    }

    /// Link state, without waiting for autonegotiation.
    pub fn link(&self) -> Result<LinkStatus> {
        let mut l = sys::rte_eth_link::default();
        // SAFETY: valid out pointer.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.id, &mut l) };
        if ret < 0 {
            return Err(self.error("rte_eth_link_get_nowait", ret));
        }
        Ok(LinkStatus {
            up: u32::from(l.link_status()) == sys::RTE_ETH_LINK_UP,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        })
    }

    /// Polls the link until it is up or `timeout` passes; returns the last state.
    pub fn wait_link_up(&self, timeout: std::time::Duration) -> Result<LinkStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let l = self.link()?;
            if l.up || std::time::Instant::now() >= deadline {
                return Ok(l);
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// The device's basic counters.
    pub fn stats(&self) -> Result<PortStats> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: valid out pointer.
        let ret = unsafe { sys::rte_eth_stats_get(self.id, &mut s) };
        if ret < 0 {
            return Err(self.error("rte_eth_stats_get", ret));
        }
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets the basic counters.
    pub fn reset_stats(&self) -> Result<()> {
        // SAFETY: no pointers.
        let ret = unsafe { sys::rte_eth_stats_reset(self.id) };
        if ret < 0 {
            return Err(self.error("rte_eth_stats_reset", ret));
        }
        Ok(())
    }

    /// The driver's extended statistics, names and values.
    pub fn xstats(&self) -> Result<Vec<Xstat>> {
        // SAFETY: NULL/0 asks for the count.
        let n = unsafe { sys::rte_eth_xstats_get_names(self.id, core::ptr::null_mut(), 0) };
        if n < 0 {
            return Err(self.error("rte_eth_xstats_get_names", n));
        }
        let n = n as usize;
        let mut names = vec![sys::rte_eth_xstat_name { name: [0; 64] }; n];
        // SAFETY: `names` has room for n entries.
        let got = unsafe { sys::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        if got < 0 {
            return Err(self.error("rte_eth_xstats_get_names", got));
        }
        let mut vals = vec![sys::rte_eth_xstat::default(); n];
        // SAFETY: `vals` has room for n entries.
        let gotv = unsafe { sys::rte_eth_xstats_get(self.id, vals.as_mut_ptr(), n as u32) };
        if gotv < 0 {
            return Err(self.error("rte_eth_xstats_get", gotv));
        }
        let count = (got as usize).min(gotv as usize).min(n);
        Ok(vals[..count]
            .iter()
            .filter_map(|v| {
                let nm = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates xstat names within 64 bytes.
                let name = unsafe { CStr::from_ptr(nm.name.as_ptr()) }
                    .to_string_lossy()
                    .into_owned();
                Some(Xstat {
                    name,
                    value: v.value,
                })
            })
            .collect())
    }

    /// The handle for queue pair `queue` (RX queue and TX queue of that
    /// index), for one forwarding core. Each queue can have one handle at a
    /// time.
    pub fn queue(&self, queue: u16) -> Result<PortQueue<'_>> {
        if queue >= self.rx_queues || queue >= self.tx_queues {
            return Err(DpdkError::Unsupported {
                port: self.id,
                device: self.name.clone(),
                what: format!(
                    "queue {queue} does not exist ({} RX, {} TX)",
                    self.rx_queues, self.tx_queues
                ),
            });
        }
        let flag = &self.claimed[usize::from(queue)];
        if flag.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::QueueInUse {
                port: self.id,
                device: self.name.clone(),
                queue,
            });
        }
        Ok(PortQueue {
            port: self.id,
            queue,
            pool: self.pool.as_ptr(),
            counters: PortCounters::default(),
            count_bytes: true,
            claim: flag,
        })
    }
}

impl Drop for EthPort<'_> {
    fn drop(&mut self) {
        // SAFETY: no queue handle is alive (they borrow `self`).
        let ret = unsafe { sys::rte_eth_dev_stop(self.id) };
        if ret < 0 {
            tracing::warn!(
                "port {} ({}): rte_eth_dev_stop: {}",
                self.id,
                self.name,
                strerror(ret)
            );
        }
        // SAFETY: stopped; closing frees the queues and the mbufs they held.
        let ret = unsafe { sys::rte_eth_dev_close(self.id) };
        if ret < 0 {
            tracing::warn!(
                "port {} ({}): rte_eth_dev_close: {}",
                self.id,
                self.name,
                strerror(ret)
            );
        }
    }
}

/// `rte_eth_rx_burst`, written out in Rust so that it inlines into the
/// forwarding loop like it does into C callers (through the C shim it would
/// cost an extra call per burst, which shows at net_ring's ~2 ns/packet).
/// Mirrors rte_ethdev.h of DPDK 22.11 without the debug checks (off in
/// distribution builds): fetch the queue from `rte_eth_fp_ops`, call the
/// PMD, then the RX callbacks if any are installed.
///
/// # Safety
/// `port`/`queue` must be a started port's configured RX queue, polled by
/// this thread only; `pkts` must have room for `n` pointers.
#[inline(always)]
unsafe fn eth_rx_burst(port: u16, queue: u16, pkts: *mut *mut sys::rte_mbuf, n: u16) -> u16 {
    // SAFETY: (whole body) port < RTE_MAX_ETHPORTS since it is a valid port
    // id; DPDK keeps fp_ops entries and their queue arrays valid while the
    // port is configured, and `clbk` entries are only ever swapped
    // atomically (DPDK itself loads them relaxed).
    unsafe {
        let p = &*(&raw const sys::rte_eth_fp_ops)
            .cast::<sys::rte_eth_fp_ops>()
            .add(usize::from(port));
        let qd = *p.rxq.data.add(usize::from(queue));
        let Some(burst) = p.rx_pkt_burst else {
            return 0;
        };
        let mut nb = burst(qd, pkts, n);
        let cb = core::sync::atomic::AtomicPtr::from_ptr(p.rxq.clbk.add(usize::from(queue)))
            .load(Ordering::Relaxed);
        if !cb.is_null() {
            nb = sys::rte_eth_call_rx_callbacks(port, queue, pkts, nb, n, cb);
        }
        nb
    }
}

/// `rte_eth_tx_burst` in Rust, for the same reason and with the same
/// contract as [`eth_rx_burst`]: TX callbacks first, then the PMD.
///
/// # Safety
/// As for [`eth_rx_burst`], with a configured TX queue and `n` valid mbufs.
#[inline(always)]
unsafe fn eth_tx_burst(port: u16, queue: u16, pkts: *mut *mut sys::rte_mbuf, mut n: u16) -> u16 {
    // SAFETY: as in eth_rx_burst.
    unsafe {
        let p = &*(&raw const sys::rte_eth_fp_ops)
            .cast::<sys::rte_eth_fp_ops>()
            .add(usize::from(port));
        let qd = *p.txq.data.add(usize::from(queue));
        let cb = core::sync::atomic::AtomicPtr::from_ptr(p.txq.clbk.add(usize::from(queue)))
            .load(Ordering::Relaxed);
        if !cb.is_null() {
            n = sys::rte_eth_call_tx_callbacks(port, queue, pkts, n, cb);
        }
        let Some(burst) = p.tx_pkt_burst else {
            return 0;
        };
        burst(qd, pkts, n)
    }
}

fn libc_enotsup() -> i32 {
    // Linux: ENOTSUP == EOPNOTSUPP == 95.
    95
}

/// One core's handle on one queue pair of an [`EthPort`]: the DPDK
/// implementation of [`Port`]. Move it to the core that polls it.
#[derive(Debug)]
pub struct PortQueue<'p> {
    port: PortId,
    queue: u16,
    pool: *mut sys::rte_mempool,
    counters: PortCounters,
    /// Whether rx/tx bursts count bytes. Counting reads each mbuf's header,
    /// which a pure I/O loop otherwise never touches (see `set_count_bytes`).
    count_bytes: bool,
    claim: &'p AtomicBool,
}

// SAFETY: a queue handle is exclusive (claimed once per queue) and is used
// by one thread at a time through `&mut self`; DPDK allows a queue to be
// polled from any thread as long as it is one thread at a time. The pool
// pointer is to a thread-safe mempool.
unsafe impl Send for PortQueue<'_> {}

impl PortQueue<'_> {
    /// Port id.
    pub fn port_id(&self) -> PortId {
        self.port
    }
    /// Queue index.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Turns the per-handle byte counters (`rx_bytes`, `tx_bytes`) on or
    /// off (on by default). Counting bytes reads every mbuf's header; a core
    /// that parses packets reads it anyway, but a pure I/O loop (testpmd's
    /// `io` mode) never touches the mbufs, and there the reads cost about
    /// half the loop's throughput on net_ring. The device's own byte counts
    /// ([`EthPort::stats`]) are kept either way.
    pub fn set_count_bytes(&mut self, on: bool) {
        self.count_bytes = on;
    }
}

impl Drop for PortQueue<'_> {
    fn drop(&mut self) {
        self.claim.store(false, Ordering::Release);
    }
}

impl<'p> Port for PortQueue<'p> {
    type Packet = Mbuf<'p>;

    #[inline]
    fn rx_burst(&mut self, burst: &mut Burst<Mbuf<'p>>) -> usize {
        let have = burst.len();
        let room = burst.remaining();
        if room == 0 {
            return 0;
        }
        // SAFETY: Mbuf is repr(transparent) over the mbuf pointer, so the
        // burst's spare slots are `room` writable `struct rte_mbuf *`; the
        // PMD writes at most `room` of them, each an mbuf we now own.
        let n = usize::from(unsafe {
            eth_rx_burst(
                self.port,
                self.queue,
                burst.as_mut_ptr().add(have).cast(),
                room as u16,
            )
        });
        // SAFETY: the first have + n slots are initialised owned mbufs.
        unsafe { burst.set_len(have + n) };
        if self.count_bytes {
            let mut bytes = 0u64;
            for m in &burst.as_slice()[have..] {
                bytes += u64::from(m.pkt_len());
            }
            self.counters.rx_bytes += bytes;
        }
        self.counters.rx_packets += n as u64;
        n
    }

    #[inline]
    fn tx_burst(&mut self, burst: &mut Burst<Mbuf<'p>>) -> usize {
        let len = burst.len();
        if len == 0 {
            return 0;
        }
        // Bytes are read before sending: afterwards the mbufs belong to the
        // device (and may already be freed by it).
        let mut bytes = 0u64;
        if self.count_bytes {
            for m in burst.as_slice() {
                bytes += u64::from(m.pkt_len());
            }
        }
        // SAFETY: the first `len` slots are owned mbufs laid out as
        // `struct rte_mbuf *` (repr(transparent)); the PMD takes ownership of
        // the first `sent` of them.
        let sent = usize::from(unsafe {
            eth_tx_burst(self.port, self.queue, burst.as_mut_ptr().cast(), len as u16)
        });
        if self.count_bytes && sent < len {
            // The unsent tail is still ours to read.
            for m in &burst.as_slice()[sent..] {
                bytes -= u64::from(m.pkt_len());
            }
        }
        if sent < len {
            // SAFETY: slots sent..len are still ours; free them in one call
            // and forget them (the burst is emptied without dropping).
            unsafe {
                sys::fibre_rte_pktmbuf_free_bulk(
                    burst.as_mut_ptr().add(sent).cast(),
                    (len - sent) as u32,
                );
                burst.set_len(0);
            }
            self.counters.tx_dropped += (len - sent) as u64;
        } else {
            // SAFETY: the device owns all `len` mbufs now.
            unsafe { burst.set_len(0) };
        }
        self.counters.tx_packets += sent as u64;
        self.counters.tx_bytes += bytes;
        sent
    }

    #[inline]
    fn alloc(&mut self) -> Option<Mbuf<'p>> {
        // SAFETY: the pool lives as long as the EAL, which outlives 'p.
        let m = unsafe { sys::fibre_rte_pktmbuf_alloc(self.pool) };
        match core::ptr::NonNull::new(m) {
            // SAFETY: a fresh mbuf that we own.
            Some(m) => Some(unsafe { Mbuf::from_raw(m) }),
            None => {
                self.counters.alloc_failed += 1;
                None
            }
        }
    }

    fn counters(&self) -> PortCounters {
        self.counters
    }

    fn set_count_bytes(&mut self, on: bool) {
        PortQueue::set_count_bytes(self, on);
    }
}
