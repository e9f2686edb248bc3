//! Readiness for systemd (`Type=notify`, see `contrib/systemd/fibred.service`):
//! when `NOTIFY_SOCKET` names a socket, fibred sends `READY=1` once it serves its
//! control socket and `STOPPING=1` when it begins to shut down. Without the
//! variable these do nothing, so the daemon runs the same by hand or in tests.
//!
//! The protocol is one datagram of `KEY=value` lines to a Unix socket (sd_notify(3));
//! a name starting with `@` is in the abstract namespace. Sending is a few lines
//! with `UnixDatagram`, not worth a dependency.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// The service manager's socket, when there is one.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells the service manager start-up is done: the control socket answers and
/// `routes` are in the FIB (the status `systemctl status` shows). Failures are
/// logged, not fatal: the daemon serves either way, and systemd times the start
/// out if it never hears.
pub fn ready(control_socket: &Path, routes: usize) {
    send_logged(&format!(
        "READY=1\nSTATUS=serving {} with {routes} routes\n",
        control_socket.display()
    ));
}

/// Tells the service manager the daemon is shutting down.
pub fn stopping() {
    send_logged("STOPPING=1\nSTATUS=shutting down\n");
}

fn send_logged(message: &str) {
    let Some(path) = std::env::var_os(NOTIFY_SOCKET) else {
        return;
    };
    let path = path.to_string_lossy();
    match send(&path, message) {
        Ok(()) => {
            tracing::debug!(socket = %path, message = message.trim_end(), "service manager notified")
        }
        Err(e) => tracing::warn!(socket = %path, error = %e, "cannot notify the service manager"),
    }
}

/// Sends `message` as one datagram to `path` (`@name`: abstract).
pub fn send(path: &str, message: &str) -> io::Result<()> {
    let addr = match path.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    let socket = UnixDatagram::unbound()?;
    let sent = socket.send_to_addr(message.as_bytes(), &addr)?;
    if sent != message.len() {
        return Err(io::Error::other("short datagram"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_each_get_the_datagram() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1\n").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("fibre-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        send(&format!("@{name}"), "STOPPING=1\n").unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1\n");
    }

    #[test]
    fn no_listener_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(send(dir.path().join("absent").to_str().unwrap(), "READY=1\n").is_err());
    }
}
