//! Zeroed, page-aligned buffers for the big lookup arrays, on transparent huge pages
//! where the kernel offers them.
//!
//! The tbl24 array (32 MiB) is read at random by every lookup: with 4 KiB pages it
//! spans 8,192 pages and the TLB misses on nearly every lookup; with 2 MiB pages it
//! spans 16. Allocation order of preference:
//! 1. anonymous `mmap` + `madvise(MADV_HUGEPAGE)` (this host's THP mode is `madvise`,
//!    so without the advice the kernel would use 4 KiB pages);
//! 2. if `mmap` fails, the global allocator's `alloc_zeroed` with 2 MiB alignment
//!    (huge pages then only when THP is `always`);
//! 3. memory handed in through [`LargeBuf::from_raw`] (the hook for DPDK hugepage
//!    memory under EAL), freed by the function given with it.

use bytemuck::Zeroable;
use std::alloc::Layout;
use std::ptr::NonNull;

const HUGE_PAGE: usize = 2 << 20;

/// How a [`LargeBuf`]'s memory was obtained, and so how it is freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Anonymous mmap, advised to use transparent huge pages.
    MmapHugeAdvised,
    /// The global allocator (the mmap fallback).
    Heap,
    /// Memory from an external allocator (e.g. DPDK's `rte_zmalloc`).
    External,
}

/// A function that frees memory handed to [`LargeBuf::from_raw`]: `(ptr, bytes)`.
pub type ExternalFree = unsafe fn(*mut u8, usize);

/// A fixed-length, zero-initialised array of plain values.
///
/// Its memory starts as zero bytes and is read as `[T]`, so `T` must be
/// [`Zeroable`]: a type for which all-zero bytes are a valid value. A type that is
/// merely `Copy + Default` is refused, since zero bytes need not be one of its
/// values:
///
/// ```compile_fail,E0277
/// use fib::dir24::LargeBuf;
///
/// // Copy + Default, but zero bytes are neither variant.
/// #[derive(Clone, Copy, Default)]
/// #[repr(u8)]
/// enum Link {
///     #[default]
///     Up = 1,
///     Down = 2,
/// }
/// let _ = LargeBuf::<Link>::zeroed(16);
/// ```
///
/// ```
/// use fib::dir24::LargeBuf;
///
/// let b = LargeBuf::<u16>::zeroed(16);
/// assert!(b.iter().all(|&x| x == 0));
/// ```
pub struct LargeBuf<T: Copy + Zeroable> {
    ptr: NonNull<T>,
    len: usize,
    bytes: usize,
    backing: Backing,
    free: Option<ExternalFree>,
}

// SAFETY: LargeBuf owns its memory exclusively (like a Box<[T]>), so sending it
// sends the `T`s, which are Send.
unsafe impl<T: Copy + Zeroable + Send> Send for LargeBuf<T> {}
// SAFETY: shared access only hands out `&[T]`; mutation needs &mut. So sharing it
// shares the `T`s, which are Sync.
unsafe impl<T: Copy + Zeroable + Sync> Sync for LargeBuf<T> {}

impl<T: Copy + Zeroable> LargeBuf<T> {
    /// A zeroed buffer of `len` elements: every element is `T::zeroed()`.
    pub fn zeroed(len: usize) -> Self {
        assert!(len > 0);
        let bytes = (len * std::mem::size_of::<T>()).next_multiple_of(4096);
        if let Some(ptr) = mmap_huge(bytes) {
            return LargeBuf {
                ptr: ptr.cast(),
                len,
                bytes,
                backing: Backing::MmapHugeAdvised,
                free: None,
            };
        }
        let layout = Layout::from_size_align(bytes, HUGE_PAGE).expect("buffer layout");
        // SAFETY: layout has non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        LargeBuf {
            ptr: ptr.cast(),
            len,
            bytes,
            backing: Backing::Heap,
            free: None,
        }
    }

    /// Wrap memory from an external allocator (the hook for DPDK hugepage memory).
    ///
    /// # Safety
    /// `ptr` must be valid for reads and writes of `bytes` bytes, aligned for `T`,
    /// zero-filled, not used elsewhere while this buffer lives, and `bytes` must be at
    /// least `len * size_of::<T>()`. `free(ptr, bytes)` is called once on drop.
    pub unsafe fn from_raw(ptr: NonNull<T>, len: usize, bytes: usize, free: ExternalFree) -> Self {
        debug_assert!(bytes >= len * std::mem::size_of::<T>());
        LargeBuf {
            ptr,
            len,
            bytes,
            backing: Backing::External,
            free: Some(free),
        }
    }

    /// Where the memory came from.
    pub fn backing(&self) -> Backing {
        self.backing
    }

    /// Bytes reserved (rounded up to a page).
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl<T: Copy + Zeroable> std::ops::Deref for LargeBuf<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: ptr is aligned and valid for len elements for our lifetime (zeroed()
        // and from_raw's contract); each holds zero bytes, a valid T as T: Zeroable,
        // or a T written since through deref_mut.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy + Zeroable> std::ops::DerefMut for LargeBuf<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy + Zeroable> Drop for LargeBuf<T> {
    fn drop(&mut self) {
        let raw = self.ptr.as_ptr().cast::<u8>();
        match self.backing {
            Backing::MmapHugeAdvised => {
                // SAFETY: raw/bytes is exactly the region mmap returned.
                unsafe { libc::munmap(raw.cast(), self.bytes) };
            }
            Backing::Heap => {
                let layout = Layout::from_size_align(self.bytes, HUGE_PAGE).expect("layout");
                // SAFETY: allocated by alloc_zeroed with this same layout.
                unsafe { std::alloc::dealloc(raw, layout) };
            }
            Backing::External => {
                if let Some(free) = self.free {
                    // SAFETY: from_raw's contract: free accepts this pointer and size once.
                    unsafe { free(raw, self.bytes) };
                }
            }
        }
    }
}

fn mmap_huge(bytes: usize) -> Option<NonNull<u8>> {
    // SAFETY: an anonymous private mapping touches no existing memory; the result is
    // checked against MAP_FAILED before use.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    // SAFETY: p/bytes is the mapping just created. Failure (no THP support) only
    // means 4 KiB pages, so the result is ignored.
    unsafe { libc::madvise(p, bytes, libc::MADV_HUGEPAGE) };
    NonNull::new(p.cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_buffer_reads_zero_and_writes_back() {
        let mut b = LargeBuf::<u16>::zeroed(1 << 20);
        assert_eq!(b.len(), 1 << 20);
        assert!(b.iter().all(|&x| x == 0));
        b[12345] = 7;
        assert_eq!(b[12345], 7);
        assert!(b.bytes() >= (1 << 21));
    }

    #[test]
    fn zeroed_holds_zeroable_types_other_than_integers() {
        // Anything Zeroable goes, not only the u8/u16 the tables use: all-zero
        // bytes are a valid value of each, and read back as its zeroed().
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[repr(C)]
        struct Pair {
            id: u32,
            weight: f32,
        }
        // SAFETY: a repr(C) struct of a u32 and an f32, both valid as zero bytes.
        unsafe impl Zeroable for Pair {}

        let b = LargeBuf::<Pair>::zeroed(1000);
        assert!(b.iter().all(|p| *p == Pair::zeroed()));
        let o = LargeBuf::<Option<std::num::NonZeroU32>>::zeroed(1000);
        assert!(o.iter().all(Option::is_none));
    }

    #[test]
    fn external_memory_is_freed_through_the_hook() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static FREED: AtomicUsize = AtomicUsize::new(0);
        unsafe fn free_hook(ptr: *mut u8, bytes: usize) {
            FREED.fetch_add(bytes, Ordering::SeqCst);
            // SAFETY: allocated below with this layout.
            unsafe { std::alloc::dealloc(ptr, Layout::from_size_align(bytes, 64).unwrap()) };
        }
        let layout = Layout::from_size_align(4096, 64).unwrap();
        // SAFETY: non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw.cast::<u16>()).unwrap();
        // SAFETY: 4096 zeroed bytes, aligned, exclusively ours, freed by free_hook.
        let b = unsafe { LargeBuf::from_raw(ptr, 2048, 4096, free_hook) };
        assert_eq!(b.backing(), Backing::External);
        assert_eq!(b[2047], 0);
        drop(b);
        assert_eq!(FREED.load(Ordering::SeqCst), 4096);
    }
}
