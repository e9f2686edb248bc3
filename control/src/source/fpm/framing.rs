//! FPM framing: a 4-byte header — version (1), type (1 = netlink), length (u16,
//! big-endian, including the header) — then the payload. zebra's `dplane_fpm_nl`
//! puts one or two netlink messages in a frame (an update is `RTM_DELROUTE` followed
//! by `RTM_NEWROUTE`).
//!
//! A frame of another type (2 is protobuf, which `dplane_fpm_nl` never sends) is
//! skipped: its length is still trustworthy. A header with another version, or a
//! length shorter than the header, means the byte stream is not FPM or has lost its
//! place; there is no marker to find the next frame by (`01 01` occurs anywhere), so
//! the connection is dropped. zebra reconnects within 3 s and sends everything
//! again, which the resync turns into the smallest set of changes.

/// The header's size, counted in its length field.
pub const HEADER_LEN: usize = 4;
pub const VERSION: u8 = 1;
pub const TYPE_NETLINK: u8 = 1;

/// One complete frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A netlink frame's payload (the netlink messages).
    Netlink(Vec<u8>),
    /// A frame of another type, skipped whole.
    Skipped { kind: u8, len: usize },
}

/// The stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("FPM header with version {0} (only 1 is spoken)")]
    BadVersion(u8),
    #[error("FPM frame length {0} is shorter than its 4-byte header")]
    ShortLength(usize),
}

/// Reassembles frames from reads of any size.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    start: usize,
    /// Set once the stream is known to be garbage: no more frames.
    broken: Option<FrameError>,
}

impl FrameReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.broken.is_some() {
            return;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete frame; `None` until more bytes arrive. After an error every
    /// call returns the same error.
    pub fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if let Some(e) = &self.broken {
            return Some(Err(e.clone()));
        }
        let rest = &self.buf[self.start..];
        if rest.len() < HEADER_LEN {
            return None;
        }
        let (version, kind) = (rest[0], rest[1]);
        let len = u16::from_be_bytes([rest[2], rest[3]]) as usize;
        let error = if version != VERSION {
            Some(FrameError::BadVersion(version))
        } else if len < HEADER_LEN {
            Some(FrameError::ShortLength(len))
        } else {
            None
        };
        if let Some(e) = error {
            self.broken = Some(e.clone());
            return Some(Err(e));
        }
        if rest.len() < len {
            return None;
        }
        let frame = if kind == TYPE_NETLINK {
            Frame::Netlink(rest[HEADER_LEN..len].to_vec())
        } else {
            Frame::Skipped { kind, len }
        };
        self.start += len;
        Some(Ok(frame))
    }
}

/// A frame around `payload` (tests and tools).
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + HEADER_LEN).expect("FPM frame over 64 KiB");
    let mut out = Vec::with_capacity(payload.len() + HEADER_LEN);
    out.extend_from_slice(&[VERSION, kind]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(r: &mut FrameReader) -> Vec<Result<Frame, FrameError>> {
        let mut out = Vec::new();
        while let Some(f) = r.next_frame() {
            let err = f.is_err();
            out.push(f);
            if err {
                break;
            }
        }
        out
    }

    #[test]
    fn several_frames_in_one_read_and_one_frame_over_many() {
        let mut bytes = encode(1, b"abc");
        bytes.extend(encode(1, b""));
        bytes.extend(encode(2, b"protobuf"));
        bytes.extend(encode(1, b"last"));
        let mut r = FrameReader::new();
        r.push(&bytes);
        assert_eq!(
            drain(&mut r),
            vec![
                Ok(Frame::Netlink(b"abc".to_vec())),
                Ok(Frame::Netlink(Vec::new())),
                Ok(Frame::Skipped { kind: 2, len: 12 }),
                Ok(Frame::Netlink(b"last".to_vec())),
            ]
        );
        assert_eq!(r.pending(), 0);

        // The same bytes one at a time.
        let mut r = FrameReader::new();
        let mut got = Vec::new();
        for b in &bytes {
            r.push(std::slice::from_ref(b));
            got.extend(drain(&mut r));
        }
        assert_eq!(got.len(), 4);
        assert_eq!(got[3], Ok(Frame::Netlink(b"last".to_vec())));
    }

    #[test]
    fn a_partial_header_or_body_waits() {
        let bytes = encode(1, &[7u8; 100]);
        let mut r = FrameReader::new();
        r.push(&bytes[..3]);
        assert_eq!(r.next_frame(), None);
        r.push(&bytes[3..50]);
        assert_eq!(r.next_frame(), None);
        assert_eq!(r.pending(), 50);
        r.push(&bytes[50..]);
        assert_eq!(r.next_frame(), Some(Ok(Frame::Netlink(vec![7u8; 100]))));
    }

    #[test]
    fn the_largest_frame_is_read() {
        let payload = vec![1u8; 65535 - HEADER_LEN];
        let mut r = FrameReader::new();
        r.push(&encode(1, &payload));
        assert_eq!(r.next_frame(), Some(Ok(Frame::Netlink(payload))));
    }

    #[test]
    fn bad_version_and_short_length_break_the_stream_for_good() {
        let mut r = FrameReader::new();
        r.push(&[2, 1, 0, 8, 0, 0, 0, 0]);
        assert_eq!(r.next_frame(), Some(Err(FrameError::BadVersion(2))));
        r.push(&encode(1, b"ok"));
        assert_eq!(r.next_frame(), Some(Err(FrameError::BadVersion(2))));

        for len in 0..4u16 {
            let mut r = FrameReader::new();
            r.push(&encode(1, b"first"));
            let mut h = vec![1, 1];
            h.extend(len.to_be_bytes());
            r.push(&h);
            assert_eq!(r.next_frame(), Some(Ok(Frame::Netlink(b"first".to_vec()))));
            assert_eq!(
                r.next_frame(),
                Some(Err(FrameError::ShortLength(len as usize)))
            );
        }
    }

    proptest! {
        /// Any split of a valid stream yields the same frames.
        #[test]
        fn splits_do_not_matter(
            payloads in proptest::collection::vec(
                (0u8..4, proptest::collection::vec(any::<u8>(), 0..300)), 0..12),
            cuts in proptest::collection::vec(1usize..200, 0..40),
        ) {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for (kind, p) in &payloads {
                bytes.extend(encode(*kind, p));
                want.push(if *kind == TYPE_NETLINK {
                    Frame::Netlink(p.clone())
                } else {
                    Frame::Skipped { kind: *kind, len: p.len() + HEADER_LEN }
                });
            }
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            let mut at: usize = 0;
            for c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
                let end = at.saturating_add(*c).min(bytes.len());
                r.push(&bytes[at..end]);
                at = end;
                while let Some(f) = r.next_frame() {
                    got.push(f.unwrap());
                }
            }
            prop_assert_eq!(got, want);
            prop_assert_eq!(r.pending(), 0);
        }

        /// Arbitrary bytes never panic and never loop.
        #[test]
        fn garbage_never_panics(chunks in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..100), 0..20)) {
            let mut r = FrameReader::new();
            for c in &chunks {
                r.push(c);
                let mut n = 0;
                while let Some(f) = r.next_frame() {
                    n += 1;
                    if f.is_err() || n > 10_000 {
                        break;
                    }
                }
            }
        }
    }
}
