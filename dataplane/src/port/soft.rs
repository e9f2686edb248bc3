//! The software port: in-process rings over a preallocated buffer pool.
//!
//! Packets are boxed fixed-size buffers allocated once, when the pool is
//! created; receiving, sending and freeing only move a pointer through a
//! lock-free `ArrayQueue`, so the hot path never allocates. Two [`SoftPort`]s
//! made by [`SoftPort::pair`] are wired back to back (what one sends the other
//! receives), like two NICs joined by a cable; [`SoftPort::loopback`] is one
//! port whose TX feeds its own RX, like DPDK's `net_ring`.

use core::mem::ManuallyDrop;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::{Burst, LengthError, Packet, Port, PortCounters};

/// Bytes in one software packet buffer (a standard frame plus room).
pub const SOFT_BUF_SIZE: usize = 2048;

struct Buf {
    /// The pool this buffer returns to, held for the buffer's whole life.
    pool: Arc<Shared>,
    len: usize,
    data: [u8; SOFT_BUF_SIZE],
}

struct Shared {
    free: ArrayQueue<Box<Buf>>,
    /// Set when the last [`SoftPool`] handle is gone: packets freed after
    /// that are deallocated instead of queued (the free queue and the
    /// buffers reference each other, so the queue is drained on close).
    closed: AtomicBool,
}

/// A software packet: an owned buffer from a [`SoftPool`]. Dropping it
/// returns the buffer to the pool.
pub struct SoftPacket {
    buf: ManuallyDrop<Box<Buf>>,
}

impl Packet for SoftPacket {
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf.data[..self.buf.len]
    }
    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let len = self.buf.len;
        &mut self.buf.data[..len]
    }
    #[inline]
    fn capacity(&self) -> usize {
        SOFT_BUF_SIZE
    }
    #[inline]
    fn set_len(&mut self, len: usize) -> Result<(), LengthError> {
        if len > SOFT_BUF_SIZE {
            return Err(LengthError {
                requested: len,
                capacity: SOFT_BUF_SIZE,
            });
        }
        self.buf.len = len;
        Ok(())
    }
}

impl Drop for SoftPacket {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `buf` is taken exactly once, here, and never used again.
        let buf = unsafe { ManuallyDrop::take(&mut self.buf) };
        // A reference of our own keeps the pool alive until we are done
        // with its queue, even if the last pool handle drops meanwhile on
        // another thread and drains the queue (and so frees `buf`).
        let pool = Arc::clone(&buf.pool);
        if pool.closed.load(Ordering::SeqCst) {
            return; // nobody drains the queue any more: deallocate `buf`
        }
        // The queue has room for every buffer of the pool, so this cannot
        // fail; if it ever did, the buffer would simply be deallocated.
        let _ = pool.free.push(buf);
        // If the pool closed while we pushed, its drain may have run before
        // our push landed: drain again so the buffer is not leaked. (SeqCst:
        // either we see `closed` here or the owner's drain sees our push.)
        if pool.closed.load(Ordering::SeqCst) {
            while pool.free.pop().is_some() {}
        }
    }
}

impl core::fmt::Debug for SoftPacket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftPacket")
            .field("len", &self.buf.len)
            .finish()
    }
}

struct PoolOwner {
    shared: Arc<Shared>,
    size: usize,
}

impl Drop for PoolOwner {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        // Break the buffer <-> queue reference cycle.
        while self.shared.free.pop().is_some() {}
    }
}

/// A pool of preallocated software packet buffers. Cheap to clone (all
/// clones share the buffers).
#[derive(Clone)]
pub struct SoftPool {
    owner: Arc<PoolOwner>,
}

impl SoftPool {
    /// A pool of `n` buffers of [`SOFT_BUF_SIZE`] bytes, all allocated now.
    ///
    /// # Panics
    /// If `n` is 0.
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "a packet pool needs at least one buffer");
        let shared = Arc::new(Shared {
            free: ArrayQueue::new(n),
            closed: AtomicBool::new(false),
        });
        for _ in 0..n {
            let buf = Box::new(Buf {
                pool: Arc::clone(&shared),
                len: 0,
                data: [0; SOFT_BUF_SIZE],
            });
            if shared.free.push(buf).is_err() {
                unreachable!("queue sized for n buffers");
            }
        }
        Self {
            owner: Arc::new(PoolOwner { shared, size: n }),
        }
    }

    /// A packet of length 0, or `None` when every buffer is in use.
    #[inline]
    pub fn alloc(&self) -> Option<SoftPacket> {
        let mut buf = self.owner.shared.free.pop()?;
        buf.len = 0;
        Some(SoftPacket {
            buf: ManuallyDrop::new(buf),
        })
    }

    /// Buffers currently free.
    pub fn available(&self) -> usize {
        self.owner.shared.free.len()
    }

    /// Buffers in the pool.
    pub fn size(&self) -> usize {
        self.owner.size
    }
}

impl core::fmt::Debug for SoftPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftPool")
            .field("size", &self.size())
            .field("available", &self.available())
            .finish()
    }
}

/// One end of an in-process link. Implements [`Port`].
pub struct SoftPort {
    pool: SoftPool,
    rx: Arc<ArrayQueue<SoftPacket>>,
    tx: Arc<ArrayQueue<SoftPacket>>,
    counters: PortCounters,
}

impl SoftPort {
    /// Two ports joined back to back, each direction a ring of `depth`
    /// packets (a full ring drops, like a NIC's full TX ring).
    pub fn pair(pool: &SoftPool, depth: usize) -> (SoftPort, SoftPort) {
        let a_to_b = Arc::new(ArrayQueue::new(depth));
        let b_to_a = Arc::new(ArrayQueue::new(depth));
        let a = SoftPort {
            pool: pool.clone(),
            rx: Arc::clone(&b_to_a),
            tx: Arc::clone(&a_to_b),
            counters: PortCounters::default(),
        };
        let b = SoftPort {
            pool: pool.clone(),
            rx: a_to_b,
            tx: b_to_a,
            counters: PortCounters::default(),
        };
        (a, b)
    }

    /// One port whose TX ring is its own RX ring.
    pub fn loopback(pool: &SoftPool, depth: usize) -> SoftPort {
        let ring = Arc::new(ArrayQueue::new(depth));
        SoftPort {
            pool: pool.clone(),
            rx: Arc::clone(&ring),
            tx: ring,
            counters: PortCounters::default(),
        }
    }

    /// The pool this port allocates from.
    pub fn pool(&self) -> &SoftPool {
        &self.pool
    }

    /// Packets waiting to be received on this port.
    pub fn rx_pending(&self) -> usize {
        self.rx.len()
    }
}

impl Port for SoftPort {
    type Packet = SoftPacket;

    #[inline]
    fn rx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let mut n = 0;
        while !burst.is_full() {
            let Some(pkt) = self.rx.pop() else { break };
            self.counters.rx_bytes += pkt.len() as u64;
            if burst.push(pkt).is_err() {
                unreachable!("checked not full");
            }
            n += 1;
        }
        self.counters.rx_packets += n as u64;
        n
    }

    #[inline]
    fn tx_burst(&mut self, burst: &mut Burst<SoftPacket>) -> usize {
        let mut sent = 0;
        let mut bytes = 0;
        let mut full = false;
        for i in 0..burst.len() {
            // SAFETY: i < len, so slot i is initialised; it is moved out once
            // and the burst's length is reset below without dropping it again.
            let pkt = unsafe { core::ptr::read(burst.as_mut_ptr().add(i)) };
            if full {
                // Like a NIC ring, accept only a prefix: once the ring was
                // full, the rest is dropped, so accepted packets keep order.
                drop(pkt);
                continue;
            }
            let len = pkt.len();
            match self.tx.push(pkt) {
                Ok(()) => {
                    sent += 1;
                    bytes += len as u64;
                }
                Err(dropped) => {
                    drop(dropped);
                    full = true;
                }
            }
        }
        self.counters.tx_dropped += (burst.len() - sent) as u64;
        // SAFETY: every packet was moved out above (sent or freed).
        unsafe { burst.set_len(0) };
        self.counters.tx_packets += sent as u64;
        self.counters.tx_bytes += bytes;
        sent
    }

    #[inline]
    fn alloc(&mut self) -> Option<SoftPacket> {
        let p = self.pool.alloc();
        if p.is_none() {
            self.counters.alloc_failed += 1;
        }
        p
    }

    fn counters(&self) -> PortCounters {
        self.counters
    }
}

impl core::fmt::Debug for SoftPort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SoftPort")
            .field("rx_pending", &self.rx.len())
            .field("counters", &self.counters)
            .finish()
    }
}
