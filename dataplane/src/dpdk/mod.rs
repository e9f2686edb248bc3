//! The safe layer over DPDK (feature `dpdk`): EAL, mempools, ethdev ports,
//! and [`PortQueue`], the DPDK implementation of [`crate::port::Port`].
//!
//! Lifetimes carry DPDK's ordering rules: everything borrows the [`Eal`]
//! (so `rte_eal_cleanup` runs after every port is closed and every mbuf is
//! freed), and a [`PortQueue`] and its [`Mbuf`]s borrow their [`EthPort`]
//! (so a port is never stopped under a core that still polls it).
//!
//! Mempools are never freed individually: as in DPDK applications generally,
//! they live until the EAL is cleaned up. That keeps an mbuf parked in some
//! other port's TX ring from pointing into a freed pool.

mod error;
mod mbuf;
mod port;
pub mod telemetry;

pub use error::DpdkError;
pub use mbuf::Mbuf;
pub use port::{EthPort, LinkStatus, PortConfig, PortQueue, PortStats, Xstat};

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

use dpdk_sys as sys;

/// A DPDK ethdev port id.
pub type PortId = u16;

/// Result of the DPDK layer.
pub type Result<T, E = DpdkError> = std::result::Result<T, E>;

/// `rte_strerror` text for an errno value (positive or negative).
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string for any input; it is copied out at once.
    unsafe { CStr::from_ptr(sys::rte_strerror(errno.abs())) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `rte_errno`.
pub(crate) fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; no preconditions.
    unsafe { sys::fibre_rte_errno() }
}

/// Set once the EAL has been initialised in this process; never reset,
/// because DPDK refuses a second `rte_eal_init` even after cleanup.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// The DPDK Environment Abstraction Layer, initialised for this process.
///
/// Only one `Eal` can ever exist per process (DPDK's rule); a second
/// [`Eal::init`] returns [`DpdkError::EalAlreadyInitialised`]. Dropping it
/// runs `rte_eal_cleanup`.
#[derive(Debug)]
pub struct Eal {
    /// The ethdev ports of the `--vdev` arguments, by name.
    vdevs: Vec<(String, PortId)>,
}

impl Eal {
    /// Starts the EAL with `args` (EAL arguments only, without a program
    /// name; e.g. `["--no-huge", "-m", "1024", "--no-pci", "--vdev=net_ring0"]`).
    ///
    /// Every `--vdev` must have probed into an ethdev port, and every `-a`
    /// (allow-listed device) must have produced one: a device that fails to
    /// probe leaves the EAL running with fewer ports, which is reported here
    /// as [`DpdkError::DeviceNotProbed`] instead of giving an empty router.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialised);
        }
        let mut owned: Vec<String> = Vec::with_capacity(args.len() + 1);
        owned.push("fibre".to_owned());
        owned.extend(args.iter().map(|a| a.as_ref().to_owned()));
        let vdev_names = vdev_names(&owned[1..]);
        let allowed = allowed_devices(&owned[1..]);

        // rte_eal_init may keep pointers into argv (and permutes the array),
        // so the strings are leaked: once per process, a few hundred bytes.
        let mut argv: Vec<*mut c_char> = Vec::with_capacity(owned.len() + 1);
        for a in &owned {
            let c = CString::new(a.as_str()).map_err(|_| DpdkError::BadArgument(a.clone()))?;
            argv.push(c.into_raw());
        }
        let argc = argv.len() as i32;
        argv.push(core::ptr::null_mut());
        let argv: &'static mut [*mut c_char] = argv.leak();
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all leaked so they outlive the EAL; EAL_STARTED ensures this
        // runs at most once per process.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let errno = rte_errno();
            return Err(DpdkError::EalInit {
                errno,
                msg: strerror(errno),
                args: owned[1..].join(" "),
            });
        }

        let mut vdevs = Vec::with_capacity(vdev_names.len());
        let mut missing = Vec::new();
        for name in vdev_names {
            match port_by_name(&name) {
                Ok(id) => vdevs.push((name, id)),
                Err(_) => missing.push(name),
            }
        }
        // SAFETY: no preconditions once the EAL is up.
        let avail = unsafe { sys::rte_eth_dev_count_avail() } as usize;
        if missing.is_empty() && avail < vdevs.len() + allowed {
            missing.push(format!(
                "{} device(s) requested (vdev and -a), {avail} port(s) available",
                vdevs.len() + allowed
            ));
        }
        let eal = Eal { vdevs };
        if !missing.is_empty() {
            // Dropping `eal` cleans up the half-useful EAL.
            drop(eal);
            return Err(DpdkError::DeviceNotProbed {
                devices: missing.join(", "),
            });
        }
        Ok(eal)
    }

    /// The port of a device by its ethdev name (e.g. `net_ring0`,
    /// `0000:8a:00.0`).
    pub fn port_by_name(&self, name: &str) -> Result<PortId> {
        port_by_name(name)
    }

    /// The `--vdev` devices and their ports, in argument order.
    pub fn vdev_ports(&self) -> &[(String, PortId)] {
        &self.vdevs
    }

    /// Ids of all available ethdev ports.
    pub fn ports(&self) -> Vec<PortId> {
        let mut v = Vec::new();
        let mut id: u64 = 0;
        loop {
            // SAFETY: EAL is up; the iterator function takes any start id.
            let next = unsafe { sys::rte_eth_find_next_owned_by(id as u16, 0) };
            if next >= u64::from(sys::RTE_MAX_ETHPORTS) {
                break;
            }
            v.push(next as PortId);
            id = next + 1;
            if id >= u64::from(sys::RTE_MAX_ETHPORTS) {
                break;
            }
        }
        v
    }

    /// Creates a packet-buffer pool of `n` mbufs with `data_room` bytes of
    /// packet room each (plus DPDK's headroom) and a per-lcore cache.
    pub fn mempool(&self, name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool<'_>> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.to_owned()))?;
        let room = data_room
            .checked_add(sys::RTE_PKTMBUF_HEADROOM as u16)
            .ok_or_else(|| DpdkError::BadArgument(format!("data room {data_room}")))?;
        // SAFETY: EAL is up (self exists); name is a valid C string copied
        // by DPDK. SOCKET_ID_ANY is -1.
        let mp = unsafe { sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, room, -1) };
        match NonNull::new(mp) {
            Some(ptr) => Ok(Mempool {
                ptr,
                _eal: PhantomData,
            }),
            None => {
                let errno = rte_errno();
                Err(DpdkError::Mempool {
                    name: name.to_owned(),
                    errno,
                    msg: strerror(errno),
                })
            }
        }
    }

    /// Opens, configures and starts port `port` (see [`EthPort::start`]).
    pub fn start_port<'e>(
        &'e self,
        port: PortId,
        pool: Mempool<'e>,
        cfg: &PortConfig,
    ) -> Result<EthPort<'e>> {
        EthPort::start(self, port, pool, cfg)
    }

    /// How many (RX, TX) queues device `port` supports (`rte_eth_dev_info`), to
    /// ask no more of it than it has (net_pcap and many virtio and VF setups have
    /// one pair).
    pub fn max_queues(&self, port: PortId) -> Result<(u16, u16)> {
        port::max_queues(port)
    }

    /// The calling thread's lcore id (`u32::MAX` outside EAL threads).
    pub fn lcore_id(&self) -> u32 {
        // SAFETY: reads a thread-local; no preconditions.
        unsafe { sys::fibre_rte_lcore_id() }
    }

    /// Registers the calling thread (e.g. a forwarding core started with
    /// `std::thread`) with DPDK, which gives it an lcore id: mempool
    /// per-lcore caches then serve its allocations and frees instead of the
    /// shared ring. The registration ends when the guard drops (on the same
    /// thread: the guard is not `Send`).
    pub fn register_thread(&self) -> Result<ThreadRegistration<'_>> {
        // SAFETY: EAL is up; registers the calling thread only.
        let ret = unsafe { sys::rte_thread_register() };
        if ret < 0 {
            let errno = rte_errno();
            return Err(DpdkError::ThreadRegister {
                errno,
                msg: strerror(errno),
            });
        }
        Ok(ThreadRegistration {
            lcore: self.lcore_id(),
            _eal: PhantomData,
        })
    }
}

/// A thread's DPDK registration (see [`Eal::register_thread`]).
#[derive(Debug)]
pub struct ThreadRegistration<'eal> {
    lcore: u32,
    /// Borrows the EAL, and `*const` keeps the guard on its thread.
    _eal: PhantomData<(&'eal Eal, *const ())>,
}

impl ThreadRegistration<'_> {
    /// The lcore id DPDK gave the thread.
    pub fn lcore_id(&self) -> u32 {
        self.lcore
    }
}

impl Drop for ThreadRegistration<'_> {
    fn drop(&mut self) {
        // SAFETY: runs on the thread that registered (the guard is !Send).
        unsafe { sys::rte_thread_unregister() }
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: every port, queue and mbuf borrows `self`, so all are gone;
        // cleanup runs once because `Eal` is not Clone.
        let ret = unsafe { sys::rte_eal_cleanup() };
        if ret < 0 {
            tracing::warn!("rte_eal_cleanup: {}", strerror(-ret));
        }
    }
}

fn port_by_name(name: &str) -> Result<PortId> {
    let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.to_owned()))?;
    let mut id: u16 = 0;
    // SAFETY: valid C string and out pointer.
    let ret = unsafe { sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
    if ret < 0 {
        return Err(DpdkError::NoSuchPort {
            name: name.to_owned(),
            msg: strerror(-ret),
        });
    }
    Ok(id)
}

/// Device names of `--vdev=NAME,...` / `--vdev NAME,...` arguments.
fn vdev_names(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let spec = if let Some(v) = a.strip_prefix("--vdev=") {
            Some(v.to_owned())
        } else if a == "--vdev" {
            it.next().cloned()
        } else {
            None
        };
        if let Some(spec) = spec {
            let name = spec.split(',').next().unwrap_or("").trim().to_owned();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// Number of `-a DEV` / `--allow=DEV` arguments.
fn allowed_devices(args: &[String]) -> usize {
    args.iter()
        .filter(|a| {
            *a == "-a"
                || *a == "--allow"
                || a.starts_with("--allow=")
                || (a.starts_with("-a") && a.len() > 2)
        })
        .count()
}

/// A pool of packet buffers (`rte_mempool` of mbufs). A copyable handle:
/// pools live until the EAL is cleaned up.
#[derive(Clone, Copy, Debug)]
pub struct Mempool<'eal> {
    ptr: NonNull<sys::rte_mempool>,
    _eal: PhantomData<&'eal Eal>,
}

// SAFETY: an rte_mempool is a multi-producer multi-consumer object designed
// to be used from every lcore and thread at once; the handle is a pointer.
unsafe impl Send for Mempool<'_> {}
// SAFETY: as above.
unsafe impl Sync for Mempool<'_> {}

impl<'eal> Mempool<'eal> {
    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// A fresh mbuf of length 0, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf<'eal>> {
        // SAFETY: the pool is alive for 'eal.
        let m = unsafe { sys::fibre_rte_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-null result is an mbuf we now own.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Mbufs currently available in the pool (including lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Mbufs currently allocated from the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn vdev_names_both_spellings() {
        let a = s(&[
            "--no-huge",
            "--vdev=net_ring0",
            "--vdev",
            "net_pcap0,rx_pcap=a.pcap",
            "-l",
            "0",
        ]);
        assert_eq!(vdev_names(&a), vec!["net_ring0", "net_pcap0"]);
    }

    #[test]
    fn allowed_counts() {
        let a = s(&[
            "-a",
            "0000:01:00.0",
            "--allow=0000:01:00.1",
            "-a0000:02:00.0",
            "--no-pci",
        ]);
        assert_eq!(allowed_devices(&a), 3);
    }
}
