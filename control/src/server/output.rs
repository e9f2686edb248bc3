//! What a client has yet to read: encoded replies, and replies still being
//! produced. A big answer (a `route show` of a whole table) is a [`ReplyStream`]
//! that writes its bytes only as the client drains the socket, so a client that
//! never reads holds a cursor, not megabytes, and producing it is spread over the
//! loop's turns instead of stalling one.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};

/// A reply produced piecewise, as the client reads.
pub trait ReplyStream: Send {
    /// Appends the reply's next bytes to `out` (about `budget` of them, at least
    /// one row); returns `true` once the whole line, newline included, is written.
    fn fill(&mut self, out: &mut Vec<u8>, budget: usize) -> bool;

    /// Whether the stream bounds what it holds itself (a subscription that drops
    /// events with a record when its client reads too slowly): the server then
    /// never drops its client as too slow, however long the client waits to read.
    fn bounded(&self) -> bool {
        false
    }
}

/// Bytes a stream produces at a time.
const CHUNK: usize = 64 << 10;

enum Segment {
    Bytes(Vec<u8>),
    Stream(Box<dyn ReplyStream>),
}

/// How a write round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flushed {
    /// Nothing left to write.
    Drained,
    /// The socket takes no more now.
    Blocked,
    /// The round's budget for producing stream bytes is spent.
    Budget,
}

/// A client's output queue, in reply order.
#[derive(Default)]
pub(super) struct Output {
    /// Bytes being written, from `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// What comes after `buf`.
    later: VecDeque<Segment>,
    /// Bytes in `later`'s `Bytes` segments.
    later_bytes: usize,
}

impl Output {
    /// Encoded bytes queued (streams count only what they have produced).
    pub(super) fn queued(&self) -> usize {
        self.buf.len() - self.pos + self.later_bytes
    }

    /// Whether nothing at all is left to write.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.len() == self.pos && self.later.is_empty()
    }

    pub(super) fn push_bytes(&mut self, bytes: &[u8]) {
        if self.later.is_empty() {
            if self.buf.len() == self.pos {
                self.buf.clear();
                self.pos = 0;
            }
            self.buf.extend_from_slice(bytes);
        } else {
            self.later_bytes += bytes.len();
            self.later.push_back(Segment::Bytes(bytes.to_vec()));
        }
    }

    /// Whether what is left to write is a [`ReplyStream::bounded`] stream (and the
    /// last chunk it produced).
    pub(super) fn is_bounded_stream(&self) -> bool {
        match self.later.front() {
            Some(Segment::Stream(s)) => s.bounded(),
            _ => false,
        }
    }

    pub(super) fn push_stream(&mut self, stream: Box<dyn ReplyStream>) {
        self.later.push_back(Segment::Stream(stream));
    }

    /// Writes what `w` takes, producing at most `budget` stream bytes (the budget
    /// is shared by every client of a poll, and reduced by what this one used).
    /// Returns how it ended and the bytes written.
    pub(super) fn write_to(
        &mut self,
        w: &mut impl Write,
        budget: &mut usize,
    ) -> io::Result<(Flushed, usize)> {
        let mut written = 0;
        loop {
            if self.pos == self.buf.len() {
                self.refill(budget);
                if self.pos == self.buf.len() {
                    let how = if self.later.is_empty() {
                        Flushed::Drained
                    } else {
                        Flushed::Budget
                    };
                    self.shrink();
                    return Ok((how, written));
                }
            }
            match w.write(&self.buf[self.pos..]) {
                Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "socket closed")),
                Ok(n) => {
                    self.pos += n;
                    written += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return Ok((Flushed::Blocked, written))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the next segment (or the next chunk of a stream) into `buf`.
    fn refill(&mut self, budget: &mut usize) {
        self.buf.clear();
        self.pos = 0;
        match self.later.front_mut() {
            None => {}
            Some(Segment::Bytes(_)) => {
                if let Some(Segment::Bytes(b)) = self.later.pop_front() {
                    self.later_bytes -= b.len();
                    self.buf = b;
                }
            }
            Some(Segment::Stream(s)) => {
                if *budget == 0 {
                    return;
                }
                let done = s.fill(&mut self.buf, CHUNK.min(*budget));
                *budget = budget.saturating_sub(self.buf.len());
                if done {
                    self.later.pop_front();
                }
            }
        }
    }

    /// Gives back a big buffer once written (a long reply's).
    fn shrink(&mut self) {
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` lines of `width` bytes, produced one line per fill.
    struct Lines {
        left: usize,
        width: usize,
    }

    impl ReplyStream for Lines {
        fn fill(&mut self, out: &mut Vec<u8>, _budget: usize) -> bool {
            out.extend(std::iter::repeat_n(b'x', self.width - 1));
            out.push(b'\n');
            self.left -= 1;
            self.left == 0
        }
    }

    /// A writer that takes `room` bytes, then would block.
    struct Sink {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(ErrorKind::WouldBlock.into());
            }
            let n = b.len().min(self.room);
            self.room -= n;
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn replies_keep_their_order_and_streams_are_produced_as_the_reader_drains() {
        let mut out = Output::default();
        out.push_bytes(b"a\n");
        out.push_stream(Box::new(Lines { left: 3, width: 4 }));
        out.push_bytes(b"b\n");
        assert_eq!(out.queued(), 4, "the stream has produced nothing yet");
        let mut sink = Sink {
            got: Vec::new(),
            room: 5,
        };
        let mut budget = usize::MAX;
        assert_eq!(
            out.write_to(&mut sink, &mut budget).unwrap(),
            (Flushed::Blocked, 5)
        );
        sink.room = 100;
        assert_eq!(
            out.write_to(&mut sink, &mut budget).unwrap(),
            (Flushed::Drained, 11)
        );
        assert_eq!(sink.got, b"a\nxxx\nxxx\nxxx\nb\n");
        assert!(out.is_empty());
    }

    #[test]
    fn a_spent_budget_pauses_a_stream() {
        let mut out = Output::default();
        out.push_stream(Box::new(Lines {
            left: 10,
            width: 10,
        }));
        let mut sink = Sink {
            got: Vec::new(),
            room: usize::MAX,
        };
        let mut budget = 25;
        let (how, n) = out.write_to(&mut sink, &mut budget).unwrap();
        assert_eq!((how, n, budget), (Flushed::Budget, 30, 0));
        let mut budget = usize::MAX;
        assert_eq!(
            out.write_to(&mut sink, &mut budget).unwrap(),
            (Flushed::Drained, 70)
        );
    }
}
