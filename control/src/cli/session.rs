//! What every command runs with: the daemon's socket and the output mode.

use super::failure::Failure;
use super::{reply, ControlClient};
use crate::proto::Request;
use std::path::PathBuf;

pub struct Session {
    /// fibred's control socket.
    pub socket: PathBuf,
    /// `-j`: JSON output for scripts.
    pub json: bool,
}

impl Session {
    /// Connects, sends `request` and prints the answer. Commands build their
    /// request first, so a wrong command line never reaches the daemon.
    pub fn call(&self, request: Request) -> Result<(), Failure> {
        let mut client = self.connect()?;
        let reply = client.call(&request)?;
        reply::print(&reply, self.json);
        Ok(())
    }

    pub fn connect(&self) -> Result<ControlClient, Failure> {
        Ok(ControlClient::connect(&self.socket)?)
    }
}
