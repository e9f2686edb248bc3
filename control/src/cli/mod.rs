//! `fibrectl`, the operator's CLI, as a library: the blocking control-socket client
//! (also used by tests), and one module per feature holding its subcommands, how
//! they become a request, and how that feature's replies are shown.
//!
//! The binary (`bin/fibrectl.rs`) only parses the top level and dispatches to a
//! feature's `run`. A command line is turned into a request before connecting, so
//! a wrong one sends nothing. `route load` reads its files with [`route_file`].
//!
//! Shared pieces: [`words`] (iproute2-style keyword arguments), [`failure`] (what
//! went wrong, and so the exit code), [`render`] (the one table layout every
//! feature prints with), [`reply`] (JSON output, and a reply to its renderer),
//! [`session`] (the socket, output mode and connection; connect, call, print),
//! [`batch`] (`-b FILE`: a file of commands over one connection).

mod client;

pub mod addr;
pub mod batch;
pub mod core;
pub mod failure;
pub mod fib;
pub mod link;
pub mod monitor;
pub mod neigh;
pub mod nexthop;
pub mod render;
pub mod reply;
pub mod route;
pub mod route_file;
pub mod route_load;
pub mod session;
pub mod source;
pub mod stats;
pub mod words;

pub use client::{ClientError, ControlClient, DEFAULT_SOCKET};
