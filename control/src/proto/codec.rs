//! The envelope around every message and its codec: one JSON object per line,
//! `{"v":1,"id":N,"request":...}` in, `{"v":1,"id":N,"ok":...}` or `"error"` out.
//! Decoding reads the envelope first and keeps the body raw, so a version this code
//! does not speak is refused before its body is interpreted; any byte string yields
//! a request or an error, never a panic (fuzzed in `control/tests/proto_decode.rs`).

use super::{ErrorKind, ErrorReply, Reply, Request, Response, PROTOCOL_VERSION};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

#[derive(Serialize)]
struct RequestOut<'a> {
    v: u32,
    id: u64,
    request: &'a Request,
}

/// The envelope read in a first pass: the request body stays raw so a version this
/// code does not speak is refused before its body is interpreted.
#[derive(Deserialize)]
struct RequestIn<'a> {
    v: Option<u32>,
    id: Option<u64>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
}

#[derive(Serialize)]
struct ResponseOut<'a> {
    v: u32,
    id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ok: Option<&'a Reply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ErrorReply>,
}

#[derive(Deserialize)]
struct ResponseIn {
    v: Option<u32>,
    id: Option<u64>,
    ok: Option<Reply>,
    error: Option<ErrorReply>,
}

/// A request line that could not be decoded, with what to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The request's id, when the envelope was readable enough to find it.
    pub id: Option<u64>,
    pub error: ErrorReply,
    /// Whether the peer is not speaking this protocol at all (not JSON, wrong
    /// version): the server answers and then closes the connection.
    pub fatal: bool,
}

/// Appends one request line (with its `\n`) to `out`.
pub fn encode_request(id: u64, request: &Request, out: &mut Vec<u8>) {
    let msg = RequestOut {
        v: PROTOCOL_VERSION,
        id,
        request,
    };
    // Serializing these types into a Vec cannot fail: no maps with non-string keys,
    // no fallible Serialize impls.
    serde_json::to_writer(&mut *out, &msg).expect("requests always serialize");
    out.push(b'\n');
}

/// Appends one response line (with its `\n`) to `out`. `id` is `None` only for a
/// request whose id could not be read.
pub fn encode_response(id: Option<u64>, response: &Response, out: &mut Vec<u8>) {
    let msg = ResponseOut {
        v: PROTOCOL_VERSION,
        id,
        ok: response.as_ref().ok(),
        error: response.as_ref().err(),
    };
    serde_json::to_writer(&mut *out, &msg).expect("responses always serialize");
    out.push(b'\n');
}

/// Decodes one request line (without or with its trailing newline).
pub fn decode_request(line: &[u8]) -> Result<(u64, Request), DecodeError> {
    let fatal = |id, kind, message: String| DecodeError {
        id,
        error: ErrorReply::new(kind, message),
        fatal: true,
    };
    let env: RequestIn = serde_json::from_slice(line).map_err(|e| {
        fatal(
            None,
            ErrorKind::Malformed,
            format!("malformed message: {e} (expected one JSON object per line with \"v\", \"id\" and \"request\")"),
        )
    })?;
    match env.v {
        Some(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(fatal(
                env.id,
                ErrorKind::UnsupportedVersion,
                format!("unsupported protocol version {v}: this daemon speaks version {PROTOCOL_VERSION}"),
            ))
        }
        None => {
            return Err(fatal(
                env.id,
                ErrorKind::Malformed,
                format!("missing \"v\": every message carries the protocol version (\"v\": {PROTOCOL_VERSION})"),
            ))
        }
    }
    let Some(id) = env.id else {
        return Err(fatal(
            None,
            ErrorKind::Malformed,
            "missing \"id\": every request carries an id its response echoes".into(),
        ));
    };
    let Some(raw) = env.request else {
        return Err(fatal(
            Some(id),
            ErrorKind::Malformed,
            "missing \"request\"".into(),
        ));
    };
    serde_json::from_str::<Request>(raw.get())
        .map(|r| (id, r))
        .map_err(|e| {
            let message = e.to_string();
            // serde's message for an unknown variant names the known ones.
            let kind = if message.starts_with("unknown variant") {
                ErrorKind::UnknownRequest
            } else {
                ErrorKind::InvalidArgument
            };
            DecodeError {
                id: Some(id),
                error: ErrorReply::new(kind, format!("invalid request: {message}")),
                fatal: false,
            }
        })
}

/// Why a response line could not be decoded (the client's side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseDecodeError {
    #[error("malformed response from the daemon: {0}")]
    Malformed(String),
    #[error("the daemon speaks protocol version {0}, this client version {PROTOCOL_VERSION}")]
    Version(u32),
}

/// Decodes one response line: the id it answers and the response.
pub fn decode_response(line: &[u8]) -> Result<(Option<u64>, Response), ResponseDecodeError> {
    let env: ResponseIn =
        serde_json::from_slice(line).map_err(|e| ResponseDecodeError::Malformed(e.to_string()))?;
    match env.v {
        Some(PROTOCOL_VERSION) => {}
        Some(v) => return Err(ResponseDecodeError::Version(v)),
        None => return Err(ResponseDecodeError::Malformed("missing \"v\"".into())),
    }
    match (env.ok, env.error) {
        (Some(ok), None) => Ok((env.id, Ok(ok))),
        (None, Some(err)) => Ok((env.id, Err(err))),
        _ => Err(ResponseDecodeError::Malformed(
            "expected exactly one of \"ok\" and \"error\"".into(),
        )),
    }
}
