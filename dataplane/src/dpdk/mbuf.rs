//! [`Mbuf`]: an owned DPDK packet buffer with zero-copy byte access.

use core::marker::PhantomData;
use core::ptr::NonNull;

use dpdk_sys as sys;

use crate::port::{LengthError, Packet};

/// One owned `rte_mbuf` (single segment: fibre configures no scatter RX, so
/// received packets are one segment). Dropping it frees it to its pool.
///
/// `repr(transparent)` over the mbuf pointer, so an array of `Mbuf`s is an
/// array of `struct rte_mbuf *` and bursts go to and from the PMD without
/// conversion.
#[repr(transparent)]
pub struct Mbuf<'a> {
    ptr: NonNull<sys::rte_mbuf>,
    _life: PhantomData<&'a ()>,
}

// SAFETY: an mbuf is owned by exactly one handle; freeing it from any thread
// is allowed (mempool puts are thread-safe).
unsafe impl Send for Mbuf<'_> {}

impl Mbuf<'_> {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must be a valid mbuf that nobody else owns or will free, from a
    /// pool that outlives the returned handle.
    pub unsafe fn from_raw(ptr: NonNull<sys::rte_mbuf>) -> Self {
        Self {
            ptr,
            _life: PhantomData,
        }
    }

    /// Gives up ownership; the caller must free or send the mbuf.
    pub fn into_raw(self) -> NonNull<sys::rte_mbuf> {
        let p = self.ptr;
        core::mem::forget(self);
        p
    }

    /// The raw mbuf (still owned by `self`).
    pub fn as_ptr(&self) -> *mut sys::rte_mbuf {
        self.ptr.as_ptr()
    }

    #[inline]
    fn raw(&self) -> &sys::rte_mbuf {
        // SAFETY: we own a valid mbuf for our lifetime.
        unsafe { self.ptr.as_ref() }
    }

    /// The port the mbuf was received on (DPDK's `mbuf->port`).
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// Number of segments (1 for everything fibre receives).
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Total packet length over all segments (`pkt_len`).
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }
}

impl Packet for Mbuf<'_> {
    #[inline]
    fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // buffer (a DPDK invariant of a valid mbuf); we own the mbuf and
        // `&self` keeps it from being freed or written meanwhile.
        unsafe {
            core::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (addr, off, len) = (m.buf_addr.cast::<u8>(), m.data_off, m.data_len);
        // SAFETY: as in `data`; `&mut self` makes the access exclusive. The
        // buffer is not shared (fibre never clones or attaches mbufs, so
        // refcnt is 1 and no other mbuf points at this data).
        unsafe { core::slice::from_raw_parts_mut(addr.add(usize::from(off)), usize::from(len)) }
    }

    #[inline]
    fn capacity(&self) -> usize {
        let m = self.raw();
        usize::from(m.buf_len - m.data_off)
    }

    #[inline]
    fn set_len(&mut self, len: usize) -> Result<(), LengthError> {
        let cap = self.capacity();
        if len > cap || self.segments() != 1 {
            return Err(LengthError {
                requested: len,
                capacity: cap,
            });
        }
        // SAFETY: exclusive ownership; a single-segment mbuf's pkt_len equals
        // its data_len, and len fits in the first (only) segment's room.
        let m = unsafe { self.ptr.as_mut() };
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        Ok(())
    }
}

impl Drop for Mbuf<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf, and its pool outlives us (lifetime 'a).
        unsafe { sys::fibre_rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

impl core::fmt::Debug for Mbuf<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.raw().data_len)
            .field("port", &self.raw().port)
            .finish()
    }
}
