//! Frames held while their neighbour resolves. A packet punted `unresolved` is
//! copied here and sent once the MAC is known, as Linux queues packets on an
//! incomplete neighbour: the first packet of a flow to a new host is not lost (a
//! TCP SYN would otherwise wait a second for its retry). Bounded per neighbour, in
//! neighbours and in age, so a scan of unresolvable hosts holds little.

use fib::PortId;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Frames held per unresolved neighbour (Linux's default `unres_qlen` is 101; a few
/// cover a flow's first packets without holding many buffers).
pub const PER_NEIGHBOUR: usize = 4;
/// Neighbours with held frames at most (beyond: the frame is dropped).
pub const NEIGHBOURS: usize = 256;
/// How long a held frame may wait for its neighbour.
pub const MAX_AGE: Duration = Duration::from_secs(3);

/// A held frame and when it was punted.
type Held = (Instant, Vec<u8>);

/// Held frames by (egress port, neighbour).
#[derive(Debug, Default)]
pub struct HeldFrames {
    frames: BTreeMap<(PortId, Ipv4Addr), Vec<Held>>,
}

impl HeldFrames {
    /// Holds a copy of `frame` for the neighbour; returns whether it was kept.
    pub fn hold(&mut self, port: PortId, neighbour: Ipv4Addr, frame: &[u8], now: Instant) -> bool {
        let key = (port, neighbour);
        if self.frames.len() >= NEIGHBOURS && !self.frames.contains_key(&key) {
            return false;
        }
        let held = self.frames.entry(key).or_default();
        if held.len() >= PER_NEIGHBOUR {
            return false;
        }
        held.push((now, frame.to_vec()));
        true
    }

    /// The frames held for a neighbour, oldest first, no longer held.
    pub fn take(&mut self, port: PortId, neighbour: Ipv4Addr) -> Vec<Vec<u8>> {
        self.frames
            .remove(&(port, neighbour))
            .map(|v| v.into_iter().map(|(_, f)| f).collect())
            .unwrap_or_default()
    }

    /// Drops the frames of a neighbour that failed to resolve.
    pub fn forget(&mut self, port: PortId, neighbour: Ipv4Addr) {
        self.frames.remove(&(port, neighbour));
    }

    /// Drops frames older than [`MAX_AGE`] (their neighbour never answered).
    pub fn expire(&mut self, now: Instant) {
        self.frames.retain(|_, frames| {
            frames.retain(|(at, _)| now.saturating_duration_since(*at) < MAX_AGE);
            !frames.is_empty()
        });
    }

    /// Frames held, in all.
    pub fn len(&self) -> usize {
        self.frames.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, n)
    }

    #[test]
    fn holds_a_few_per_neighbour_in_order_and_expires_them() {
        let t0 = Instant::now();
        let mut h = HeldFrames::default();
        for i in 0..PER_NEIGHBOUR as u8 + 2 {
            assert_eq!(h.hold(0, a(1), &[i], t0), usize::from(i) < PER_NEIGHBOUR);
        }
        assert!(h.hold(0, a(2), &[9], t0 + Duration::from_secs(2)));
        assert_eq!(h.len(), PER_NEIGHBOUR + 1);
        h.expire(t0 + MAX_AGE);
        assert!(h.take(0, a(1)).is_empty(), "older than MAX_AGE");
        assert_eq!(h.take(0, a(2)), vec![vec![9]]);
        assert!(h.is_empty());
    }

    #[test]
    fn holds_for_a_bounded_number_of_neighbours() {
        let t0 = Instant::now();
        let mut h = HeldFrames::default();
        for n in 0..NEIGHBOURS {
            assert!(h.hold(n as PortId, a(1), &[1], t0));
        }
        assert!(!h.hold(u16::MAX, a(1), &[1], t0));
        assert!(h.hold(0, a(1), &[2], t0), "a held neighbour takes more");
        h.forget(0, a(1));
        assert!(h.take(0, a(1)).is_empty());
    }
}
