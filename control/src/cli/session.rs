//! What every command runs with: the daemon's socket, the output mode, and the
//! connection, opened on first use and kept for the next command (`-b` runs a
//! file of commands over one connection).

use super::failure::Failure;
use super::{reply, ControlClient};
use crate::proto::Request;
use std::cell::{RefCell, RefMut};
use std::path::PathBuf;

pub struct Session {
    /// fibred's control socket.
    pub socket: PathBuf,
    /// `-j`: JSON output for scripts.
    pub json: bool,
    conn: RefCell<Option<ControlClient>>,
}

impl Session {
    pub fn new(socket: PathBuf, json: bool) -> Self {
        Session {
            socket,
            json,
            conn: RefCell::new(None),
        }
    }

    /// Connects (or reuses the connection), sends `request` and prints the
    /// answer. Commands build their request first, so a wrong command line never
    /// reaches the daemon.
    pub fn call(&self, request: Request) -> Result<(), Failure> {
        let reply = self.connect()?.call(&request)?;
        reply::print(&reply, self.json);
        Ok(())
    }

    /// The connection, opened now if there is none.
    pub fn connect(&self) -> Result<RefMut<'_, ControlClient>, Failure> {
        let mut conn = self.conn.borrow_mut();
        if conn.is_none() {
            *conn = Some(ControlClient::connect(&self.socket)?);
        }
        Ok(RefMut::map(conn, |c| c.as_mut().expect("connected above")))
    }

    /// Closes the connection; the next command opens a new one. After a command
    /// failed, answers it did not read (`route load` pipelines) may still be on
    /// the way, or the daemon may have gone.
    pub fn disconnect(&self) {
        self.conn.borrow_mut().take();
    }
}
