//! Per-core CPU accounting, like VPP's `show runtime`: the core's time split into
//! busy (the loop iteration found work: packets received, frames injected, FIB
//! events applied) and idle (it found none, including the spin or yield that
//! follows), counted in TSC cycles.
//!
//! One timestamp per loop iteration: each iteration reads the TSC once at its start
//! and charges the time since the previous start (that iteration and its idle wait)
//! to busy or idle by what the previous iteration found. With a burst of 32 that is
//! under one cycle per packet; `scripts/bench-forward-core` measures the cost.

/// The time-stamp counter where there is one, else nanoseconds of a monotonic
/// clock (the split and the ratio mean the same; "cycles" are then ns).
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64 (it is part of the base
        // architecture); it only reads the counter.
        #[allow(unused_unsafe)]
        unsafe {
            core::arch::x86_64::_rdtsc()
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        use std::time::Instant;
        static BASE: OnceLock<Instant> = OnceLock::new();
        BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// The running split, core-private.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cycles {
    /// The TSC at the start of the previous iteration (0: none yet).
    last: u64,
    /// Whether the previous iteration found work.
    was_busy: bool,
    pub busy: u64,
    pub idle: u64,
}

impl Cycles {
    /// The start of an iteration: charges the previous one.
    #[inline(always)]
    pub fn tick(&mut self, now: u64) {
        if self.last != 0 {
            let spent = now.wrapping_sub(self.last);
            if self.was_busy {
                self.busy += spent;
            } else {
                self.idle += spent;
            }
        }
        self.last = now;
    }

    /// What the iteration that began at the last [`Self::tick`] found.
    #[inline(always)]
    pub fn found(&mut self, work: bool) {
        self.was_busy = work;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_iteration_is_charged_to_what_it_found() {
        let mut c = Cycles::default();
        c.tick(1000);
        c.found(true);
        c.tick(1300);
        c.found(false);
        c.tick(1350);
        c.found(false);
        c.tick(1400);
        assert_eq!((c.busy, c.idle), (300, 100));
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now() > a);
    }
}
