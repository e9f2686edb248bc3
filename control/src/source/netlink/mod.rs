//! Netlink route messages as both route sources receive them: the kernel mirror
//! (rtnetlink, [`super::kernel`]) and the FPM server (zebra's `dplane_fpm_nl`,
//! [`super::fpm`]). zebra writes the same `RTM_NEWROUTE` / `RTM_DELROUTE` the kernel
//! sends, so one decoder serves both: [`route::decode`] turns a parsed
//! `RouteMessage` into a neutral [`route::Route`], and [`route::Route::forwarding`]
//! says how it forwards or why fibre cannot install it ([`route::Refusal`]). Each
//! source then applies its own policy (what it skips silently, what it counts,
//! how strict it is about paths it cannot use).
//!
//! - [`route`]: the decoded route, its forwarding and its refusals.
//! - `build` (tests only): `RouteMessage`s as the kernel sends them.

pub mod route;

#[cfg(test)]
pub mod build;

pub use route::{decode, Forwarding, Gateway, Hop, PartialPaths, Refusal, Route, Undecodable};

/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const NLMSG_OVERRUN: u16 = 4;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_DELLINK: u16 = 17;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_NEWROUTE: u16 = 24;
pub const RTM_DELROUTE: u16 = 25;
pub const RTM_NEWNEXTHOP: u16 = 104;
pub const RTM_DELNEXTHOP: u16 = 105;

pub const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
