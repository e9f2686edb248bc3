//! Spare receive queues: queues no core owns, polled by a core on their behalf.
//!
//! A daemon keeps spare queue pairs so a core can be added at runtime without
//! reconfiguring the ports. But devices spread incoming flows over *every* RX
//! queue they have — a NIC's RSS indirection table, a tap's per-flow queue choice
//! — so a spare queue nobody polls silently loses the flows hashed to it. So one
//! running core *adopts* the spare queues and polls them for receive (forwarding
//! what arrives like anything else), until the daemon takes them back for a new
//! core.
//!
//! The hand-over is two lock-free steps, with the core only ever touching the
//! queues from its own thread:
//! - [`SpareRx::offer`]: the daemon puts a queue handle on a small ring; the core
//!   takes it between bursts and polls it from then on.
//! - [`SpareRx::request_release`] then [`SpareRx::released`]: the daemon asks for
//!   every adopted queue back; the core drops its handles between bursts (a DPDK
//!   queue handle releases its claim on drop) and says so; only then does the
//!   daemon claim the queue for the new core. One thread polls a queue at a time.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;

/// Most spare queues one core adopts.
pub const MAX_ADOPTED: usize = 64;

/// The daemon's side and the core's side of the hand-over of spare queues.
pub struct SpareRx<P> {
    offered: ArrayQueue<(u16, P)>,
    release: AtomicBool,
    released: AtomicBool,
}

impl<P> Default for SpareRx<P> {
    fn default() -> Self {
        SpareRx {
            offered: ArrayQueue::new(MAX_ADOPTED),
            release: AtomicBool::new(false),
            released: AtomicBool::new(false),
        }
    }
}

impl<P> SpareRx<P> {
    /// Offers the receive side of a queue of FIB port `port` to the core. Gives
    /// the handle back if the core has too many queues offered already.
    pub fn offer(&self, port: u16, queue: P) -> Result<(), P> {
        self.released.store(false, Ordering::Release);
        self.offered.push((port, queue)).map_err(|(_, q)| q)
    }

    /// Asks the core to stop polling (and drop) every queue it adopted; follow
    /// with [`Self::released`].
    pub fn request_release(&self) {
        self.released.store(false, Ordering::Release);
        self.release.store(true, Ordering::Release);
    }

    /// Whether the core has dropped every queue it adopted since the last
    /// [`Self::request_release`] (also true once the core is gone, as its handles
    /// go with it).
    pub fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// Core side: whether anything is asked of it (one load and one ring check;
    /// the fast path calls it every iteration).
    #[inline(always)]
    pub(crate) fn pending(&self) -> bool {
        self.release.load(Ordering::Relaxed) || !self.offered.is_empty()
    }

    /// Core side: whether a release was asked (and is now being served).
    pub(crate) fn take_release(&self) -> bool {
        if !self.release.swap(false, Ordering::AcqRel) {
            return false;
        }
        // Queues offered before the release go back with the rest.
        while self.offered.pop().is_some() {}
        true
    }

    /// Core side: every adopted queue has been dropped.
    pub(crate) fn ack_release(&self) {
        self.released.store(true, Ordering::Release);
    }

    /// Core side: adopts what is offered, up to [`MAX_ADOPTED`] in all.
    pub(crate) fn adopt_into(&self, adopted: &mut Vec<(u16, P)>) {
        while adopted.len() < MAX_ADOPTED {
            match self.offered.pop() {
                Some(q) => adopted.push(q),
                None => break,
            }
        }
    }

    /// Core side, when the core stops: its handles are gone.
    pub(crate) fn gone(&self) {
        while self.offered.pop().is_some() {}
        self.released.store(true, Ordering::Release);
    }
}
