//! The rtnetlink socket: opened in the thread's namespace, subscribed to IPv4 route,
//! address and link changes, with a large receive buffer; dump requests; reads that
//! never block for long.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::route::RouteMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_IPV4_IFADDR: u32 = 5;
const RTNLGRP_IPV4_ROUTE: u32 = 7;

pub(super) struct RouteSocket {
    sock: Socket,
    /// The netlink port the kernel bound us to: dump replies carry it.
    pub port: u32,
    /// The receive buffer the kernel granted (it doubles what is asked).
    pub rcvbuf: usize,
}

fn setsockopt_int(fd: i32, opt: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a c_int option value of the right size on a socket we own.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl RouteSocket {
    /// Opens a socket in the calling thread's network namespace, subscribed before
    /// anything is dumped so no change falls between the dump and the stream.
    pub fn open(rcvbuf: usize) -> io::Result<RouteSocket> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        let fd = sock.as_raw_fd();
        let want = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
        // SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN.
        if setsockopt_int(fd, libc::SO_RCVBUFFORCE, want).is_err() {
            setsockopt_int(fd, libc::SO_RCVBUF, want)?;
        }
        let addr = sock.bind_auto()?;
        for group in [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV4_IFADDR, RTNLGRP_LINK] {
            sock.add_membership(group)?;
        }
        sock.set_non_blocking(true)?;
        let rcvbuf = sock.get_rx_buf_sz()?;
        Ok(RouteSocket {
            sock,
            port: addr.port_number(),
            rcvbuf,
        })
    }

    /// Asks for every IPv4 route of every table (the kernel's IPv4 dump does not
    /// filter by table unless strict checking is on; the mirror filters).
    pub fn request_dump(&self, seq: u32) -> io::Result<()> {
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = seq;
        let mut rt = RouteMessage::default();
        rt.header.address_family = AddressFamily::Inet;
        let mut msg = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetRoute(rt)),
        );
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        let n = self.sock.send(&buf, 0)?;
        if n != buf.len() {
            return Err(io::Error::other("short send of the dump request"));
        }
        Ok(())
    }

    /// Waits up to `timeout` for something to read.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one pollfd for a socket we own.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        match r {
            0 => Ok(false),
            r if r > 0 => Ok(true),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// One datagram, without blocking. `Ok(n)` with `n > buf.len()` means it was
    /// truncated (`MSG_TRUNC` reports the real length). `ENOBUFS` is the kernel
    /// saying notifications were dropped.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: the buffer is ours and its length is passed.
        let r = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}
