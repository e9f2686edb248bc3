//! The client side of the control socket: a blocking connection `fibrectl` (and the
//! tests) use to talk to `fibred`.

use crate::proto::{
    decode_response, encode_request, ErrorReply, Reply, Request, ResponseDecodeError,
};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The socket `fibred` listens on unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/fibre/fibred.sock";

/// Why a call did not get an answer, or got an error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to fibred at {path}: {error} (is fibred running? set the socket with -s or FIBRE_SOCKET)")]
    Connect { path: PathBuf, error: io::Error },
    #[error("control socket: {0}")]
    Io(#[from] io::Error),
    #[error("fibred closed the connection")]
    Closed,
    #[error(transparent)]
    Protocol(#[from] ResponseDecodeError),
    #[error("fibred answered request {got:?} while waiting for {want}")]
    UnexpectedId { want: u64, got: Option<u64> },
    /// The daemon refused the request.
    #[error("{0}")]
    Daemon(ErrorReply),
}

/// A blocking connection to the control socket.
pub struct ControlClient {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
    line: Vec<u8>,
    out: Vec<u8>,
}

impl ControlClient {
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|error| ClientError::Connect {
            path: path.to_path_buf(),
            error,
        })?;
        let writer = stream.try_clone()?;
        Ok(ControlClient {
            reader: BufReader::with_capacity(1 << 16, stream),
            writer,
            next_id: 1,
            line: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Bounds how long a read waits for the daemon (`None`: forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// Sends a request without waiting for its answer; returns its id.
    pub fn send(&mut self, request: &Request) -> Result<u64, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        self.out.clear();
        encode_request(id, request, &mut self.out);
        self.writer.write_all(&self.out)?;
        Ok(id)
    }

    /// Reads the next response: the id it answers, and the payload or the daemon's error.
    pub fn recv(&mut self) -> Result<(Option<u64>, Result<Reply, ErrorReply>), ClientError> {
        self.line.clear();
        let n = self.reader.read_until(b'\n', &mut self.line)?;
        if n == 0 || self.line.last() != Some(&b'\n') {
            return Err(ClientError::Closed);
        }
        Ok(decode_response(&self.line)?)
    }

    /// Sends a request and waits for its answer.
    pub fn call(&mut self, request: &Request) -> Result<Reply, ClientError> {
        let id = self.send(request)?;
        let (got, response) = self.recv()?;
        if got != Some(id) {
            // A `null` id is the server refusing the connection or the line as a whole.
            if let (None, Err(e)) = (got, &response) {
                return Err(ClientError::Daemon(e.clone()));
            }
            return Err(ClientError::UnexpectedId { want: id, got });
        }
        response.map_err(ClientError::Daemon)
    }
}
