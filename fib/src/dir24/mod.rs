//! DIR-24-8 longest-prefix-match table: what a forwarding core looks routes up in.
//!
//! One [`Dir24Table`] per routing table per core; [`ForwardingTables`] is a core's
//! listener state, applying [`FibEvent`](crate::FibEvent)s to its tables with
//! shadow-and-swap on replay. The design and the measurements behind it are in
//! `docs/DIR24.md`.
//!
//! # Entry layout
//!
//! Every lookup entry, in tbl24 and in tbl8, is a `u16`:
//!
//! ```text
//!  15                                            1   0
//! +-----------------------------------------------+---+
//! |  value (15 bits)                              | X |
//! +-----------------------------------------------+---+
//! X = 0: value = 0          no route
//!        value = id + 1     route to nexthop `id` (0 ..= MAX_NEXTHOP_ID)
//! X = 1: value = group      the entry continues in tbl8 group `group` (tbl24 only):
//!                           tbl8[group * 256 + (addr & 0xff)]
//! ```
//!
//! So a lookup is `e = tbl24[addr >> 8]`, then `tbl8[...]` if `X`, then
//! `(e >> 1) - 1` (wrapping: no route comes out as [`NO_ROUTE`]) — no other branch.
//!
//! The prefix depth of every entry (0 ..= 32; "no route" has depth 0, like `/0`) is
//! kept beside it in a separate `u8` array that only the writer reads, so lookups
//! touch 2 bytes per level. The depth decides overlaps: an add of `P/d` rewrites the
//! entries under `P` whose depth is `<= d`; a delete rewrites those whose depth is
//! exactly `d` with the covering route the event carries.
//!
//! A tbl8 group exists exactly while some entry of its /24 has depth > 24 (a count
//! per group tracks this); when the count drops to zero the group is uniform and is
//! folded back into its tbl24 entry and freed.

mod compressed;
mod listener;
mod lookup;
mod mem;
mod table;

pub use compressed::CompressedTbl24;
pub use listener::ForwardingTables;
pub use lookup::LookupKernel;
pub use mem::{Backing, ExternalFree, LargeBuf};
pub use table::{Dir24Config, Dir24Error, Dir24Stats, Dir24Table, Tbl24Prefetcher};

/// The largest nexthop id; the id space is defined with the events that carry ids
/// (`crate::event`), and this layout is sized to hold all of it.
pub use crate::event::MAX_NEXTHOP_ID;

// An entry holds `id + 1` in its 15-bit value.
const _: () = assert!(MAX_NEXTHOP_ID + 1 < 1 << 15);

/// The largest number of tbl8 groups the layout can address (15-bit group index).
pub const MAX_TBL8_GROUPS: u32 = 1 << 15;

/// What a bulk lookup writes for an address with no route.
pub const NO_ROUTE: u32 = u32::MAX;

/// Entries in one tbl8 group.
pub(crate) const TBL8_GROUP: usize = 256;
/// Entries in tbl24.
pub(crate) const TBL24_LEN: usize = 1 << 24;
/// The extended flag.
pub(crate) const EXT: u16 = 1;
