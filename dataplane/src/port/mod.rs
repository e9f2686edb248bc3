//! The port abstraction the forwarding cores are generic over.
//!
//! A [`Port`] is one core's handle on one network port: one RX queue and one
//! TX queue that no other core touches, so its methods take `&mut self` and
//! need no locking. A core that serves several ports holds one handle per
//! port; all handles of one backend share a packet type, so a packet received
//! on one port can be sent on another without copying.
//!
//! Two backends implement it:
//! - [`soft`]: in-process rings over a preallocated buffer pool; no DPDK,
//!   always built, used by unit tests and benchmarks.
//! - `crate::dpdk` (feature `dpdk`): DPDK ethdev queues and mbufs.
//!
//! Cores are written as `fn poll<P: Port>(ports: &mut [P])`, monomorphised
//! per backend: there is no dynamic dispatch per packet or per burst.

pub mod soft;

use core::fmt;
use core::mem::MaybeUninit;

/// Largest burst a [`Burst`] holds (DPDK's customary `MAX_PKT_BURST`).
pub const MAX_BURST: usize = 32;

/// One packet owned by the caller: a contiguous byte buffer with a length
/// and some capacity behind it. Dropping it returns the buffer to its pool.
pub trait Packet: Send + fmt::Debug {
    /// The packet's bytes, starting at the Ethernet header.
    fn data(&self) -> &[u8];
    /// The packet's bytes, writable in place (zero-copy rewrite).
    fn data_mut(&mut self) -> &mut [u8];
    /// Bytes the packet may grow to with [`Packet::set_len`].
    fn capacity(&self) -> usize;
    /// Sets the packet's length. Bytes newly exposed keep whatever the
    /// buffer held. Fails, changing nothing, when `len > capacity()`.
    fn set_len(&mut self, len: usize) -> Result<(), LengthError>;

    /// The packet's length in bytes.
    fn len(&self) -> usize {
        self.data().len()
    }
    /// Whether the packet has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Replaces the packet's contents with `bytes`.
    fn copy_from(&mut self, bytes: &[u8]) -> Result<(), LengthError> {
        self.set_len(bytes.len())?;
        self.data_mut().copy_from_slice(bytes);
        Ok(())
    }
}

/// A requested packet length beyond the buffer's capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packet length {requested} exceeds buffer capacity {capacity}")]
pub struct LengthError {
    /// The length asked for.
    pub requested: usize,
    /// What the buffer can hold.
    pub capacity: usize,
}

/// Counters a port handle keeps for itself (not the device's counters).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets the device accepted for sending.
    pub tx_packets: u64,
    /// Bytes the device accepted for sending.
    pub tx_bytes: u64,
    /// Packets the device did not accept (queue full) and that were freed.
    pub tx_dropped: u64,
    /// Packet allocations that failed (pool empty).
    pub alloc_failed: u64,
}

/// One core's handle on one port: an RX queue, a TX queue and a packet pool.
pub trait Port {
    /// The packet type of this backend (owned handle, freed on drop).
    type Packet: Packet;

    /// Receives packets, appending them to `burst` until it is full.
    /// Returns how many were received. Never blocks.
    fn rx_burst(&mut self, burst: &mut Burst<Self::Packet>) -> usize;

    /// Sends the packets of `burst`, leaving it empty. The device accepts a
    /// prefix of the burst (as DPDK's `rte_eth_tx_burst` does); the packets
    /// it did not accept are freed and counted in
    /// [`PortCounters::tx_dropped`]. Returns how many were accepted.
    fn tx_burst(&mut self, burst: &mut Burst<Self::Packet>) -> usize;

    /// A fresh packet of length 0 from this handle's pool, or `None` when
    /// the pool is empty (counted in [`PortCounters::alloc_failed`]).
    fn alloc(&mut self) -> Option<Self::Packet>;

    /// This handle's own counters.
    fn counters(&self) -> PortCounters;

    /// Turns this handle's byte counters ([`PortCounters::rx_bytes`] and `tx_bytes`)
    /// on or off; on unless turned off. Off, they stay where they were and a burst
    /// costs no per-packet length read (the device's own byte counts, where it has
    /// them, are kept either way). Backends for which counting costs nothing may
    /// ignore it (the default does).
    fn set_count_bytes(&mut self, on: bool) {
        let _ = on;
    }
}

/// A fixed-capacity burst of owned packets, kept on the caller's stack.
///
/// It is the buffer `rx_burst` fills and `tx_burst` drains; nothing in it
/// allocates. Dropping it drops (frees) the packets it still holds.
pub struct Burst<P> {
    len: usize,
    pkts: [MaybeUninit<P>; MAX_BURST],
}

impl<P> Burst<P> {
    /// An empty burst.
    pub const fn new() -> Self {
        Self {
            len: 0,
            pkts: [const { MaybeUninit::uninit() }; MAX_BURST],
        }
    }

    /// Number of packets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the burst holds no packets.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the burst holds [`MAX_BURST`] packets.
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Room left, in packets.
    pub fn remaining(&self) -> usize {
        MAX_BURST - self.len
    }

    /// Appends a packet; gives it back when the burst is full.
    #[inline]
    pub fn push(&mut self, pkt: P) -> Result<(), P> {
        // One compare: `get_mut` is the fullness test and the bounds check at once.
        let Some(slot) = self.pkts.get_mut(self.len) else {
            return Err(pkt);
        };
        slot.write(pkt);
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the last packet.
    pub fn pop(&mut self) -> Option<P> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised (it was below the old length)
        // and is now outside the initialised prefix, so it is read once.
        Some(unsafe { self.pkts[self.len].assume_init_read() })
    }

    /// The packets held.
    pub fn as_slice(&self) -> &[P] {
        // SAFETY: the first `len` slots are initialised, and MaybeUninit<P>
        // has the layout of P.
        unsafe { core::slice::from_raw_parts(self.pkts.as_ptr().cast::<P>(), self.len) }
    }

    /// The packets held, mutable (e.g. to rewrite headers in place).
    pub fn as_mut_slice(&mut self) -> &mut [P] {
        // SAFETY: as in `as_slice`; `&mut self` gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.pkts.as_mut_ptr().cast::<P>(), self.len) }
    }

    /// Iterates over the packets.
    pub fn iter(&self) -> core::slice::Iter<'_, P> {
        self.as_slice().iter()
    }

    /// Iterates mutably over the packets.
    pub fn iter_mut(&mut self) -> core::slice::IterMut<'_, P> {
        self.as_mut_slice().iter_mut()
    }

    /// Keeps only the packets for which `keep` is true, in order; the others
    /// are dropped (freed). For a core's "drop this one" decisions.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut P) -> bool) {
        let len = self.len;
        // Panic safety: while compacting, claim no packets so a panic in
        // `keep` leaks instead of double-freeing.
        self.len = 0;
        let mut kept = 0;
        for i in 0..len {
            // SAFETY: slot i < len is initialised and not yet moved out.
            let p = unsafe { self.pkts[i].assume_init_mut() };
            if keep(p) {
                if i != kept {
                    // SAFETY: move slot i into the (already vacated) slot
                    // `kept` < i; slot i is treated as uninitialised after.
                    let v = unsafe { self.pkts[i].assume_init_read() };
                    self.pkts[kept].write(v);
                }
                kept += 1;
            } else {
                // SAFETY: slot i is initialised and dropped exactly once here.
                unsafe { self.pkts[i].assume_init_drop() };
            }
        }
        self.len = kept;
    }

    /// Drops (frees) every packet held.
    pub fn clear(&mut self) {
        let len = self.len;
        self.len = 0;
        for slot in &mut self.pkts[..len] {
            // SAFETY: the first `len` slots were initialised; the length was
            // reset first so nothing is dropped twice even on panic.
            unsafe { slot.assume_init_drop() };
        }
    }

    /// Raw pointer to the first slot, for backends that hand the array to C
    /// (an array of `P` where `P` is a pointer-sized handle).
    pub(crate) fn as_mut_ptr(&mut self) -> *mut P {
        self.pkts.as_mut_ptr().cast::<P>()
    }

    /// Sets the number of initialised packets.
    ///
    /// # Safety
    /// The first `len` slots must hold initialised packets owned by the
    /// burst, and `len <= MAX_BURST`.
    pub(crate) unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= MAX_BURST);
        self.len = len;
    }
}

impl<P> Default for Burst<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P> Drop for Burst<P> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<P: Packet> fmt::Debug for Burst<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Burst").field("len", &self.len).finish()
    }
}

impl<'a, P> IntoIterator for &'a Burst<P> {
    type Item = &'a P;
    type IntoIter = core::slice::Iter<'a, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, P> IntoIterator for &'a mut Burst<P> {
    type Item = &'a mut P;
    type IntoIter = core::slice::IterMut<'a, P>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// Moves packets from `rx` to `tx` for one burst: the I/O-forward step
/// (DPDK testpmd's `io` mode), generic over the backend. Returns
/// `(received, sent)`.
#[inline]
pub fn forward_burst<P: Port>(
    rx: &mut P,
    tx: &mut P,
    burst: &mut Burst<P::Packet>,
) -> (usize, usize) {
    let n = rx.rx_burst(burst);
    if n == 0 {
        return (0, 0);
    }
    let sent = tx.tx_burst(burst);
    (n, sent)
}
