//! NUT-17: a mint quote's state over the mint's websocket (`/v1/ws`,
//! JSON-RPC `subscribe` with kind `bolt11_mint_quote`).
//!
//! The socket is a **hint**: a notification that a quote is paid only wakes
//! the wallet up, which then asks `GET /v1/mint/quote/bolt11/{id}` (NUT-04)
//! and mints only on that answer. Anything wrong with the socket (refused,
//! not advertised, closed, slow, oversized, malformed) makes the wallet fall
//! back to polling; it never fails an operation.
//!
//! # Why a small client over reqwest's upgrade
//!
//! The handshake is an HTTP/1.1 `GET` with `Upgrade: websocket` sent by a
//! `reqwest` client (so hyper, rustls with ring and its roots: the one TLS
//! stack, the same connect timeout, no redirects), and the upgraded
//! connection carries RFC 6455 frames coded here (about 200 lines: client
//! frames masked, server frames unmasked, ping answered, fragments joined).
//! `tokio-tungstenite` would add tungstenite, its own HTTP types, `rand`
//! and a second TLS integration (`tokio-rustls` set up apart from reqwest)
//! for a protocol the wallet uses for one kind of message; the hand-made
//! client adds only `sha1` (the handshake's `Sec-WebSocket-Accept`). Every
//! message is bounded ([`WS_MESSAGE_LEN_MAX`], [`WS_FRAME_LEN_MAX`]) and every
//! wait has a deadline.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;
use sha1::{Digest as _, Sha1};
use tally_cashu::nuts::nut00::MintUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};

/// The largest frame read from the mint, bytes (a quote notification is
/// about 1 KiB; the invoice is at most `QUOTE_FIELD_LEN_MAX`).
pub const WS_FRAME_LEN_MAX: usize = 32 << 10;
/// The largest message (all its frames) read from the mint, bytes.
pub const WS_MESSAGE_LEN_MAX: usize = 64 << 10;
/// How long the handshake may take, ms (connect, request, `101`).
pub const WS_HANDSHAKE_TIMEOUT_MS: u64 = 5_000;
/// How long the mint may take to answer `subscribe`, ms.
pub const WS_SUBSCRIBE_TIMEOUT_MS: u64 = 5_000;
/// The most messages read while waiting for one answer (pings, other
/// subscriptions' notifications) before the socket is given up.
pub const WS_MESSAGES_PER_WAIT_MAX: u32 = 64;

/// The GUID of RFC 6455, section 1.3.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An open NUT-17 socket to one mint.
pub struct QuoteSocket {
    stream: reqwest::Upgraded,
    next_id: u64,
    /// Messages read while waiting for an answer (a notification may come
    /// before the `subscribe` acknowledgement), at most
    /// [`WS_MESSAGES_PER_WAIT_MAX`], read first by `next_state`.
    early: std::collections::VecDeque<Vec<u8>>,
}

impl std::fmt::Debug for QuoteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuoteSocket")
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

/// A message from the mint, as far as the wallet reads it.
#[derive(Deserialize)]
struct Incoming {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    params: Option<Notification>,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "subId")]
    sub_id: String,
    payload: QuotePayload,
}

#[derive(Deserialize)]
struct QuotePayload {
    quote: String,
    state: String,
}

fn ws_error(what: impl std::fmt::Display) -> Error {
    Error::Unreachable(format!("websocket: {what}"))
}

impl QuoteSocket {
    /// Opens `GET {mint}/v1/ws` with `Upgrade: websocket` (HTTP/1.1 over
    /// `http`, which must be an HTTP/1-only client) and checks the `101`
    /// answer's `Sec-WebSocket-Accept`.
    ///
    /// # Errors
    /// [`Error::Unreachable`] for anything but a proper upgrade within
    /// [`WS_HANDSHAKE_TIMEOUT_MS`].
    pub async fn connect(http: &reqwest::Client, mint: &MintUrl) -> Result<Self> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|_| Error::Randomness)?;
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        let request = http
            .get(format!("{}/v1/ws", mint.as_str()))
            .header(reqwest::header::CONNECTION, "Upgrade")
            .header(reqwest::header::UPGRADE, "websocket")
            .header(reqwest::header::SEC_WEBSOCKET_VERSION, "13")
            .header(reqwest::header::SEC_WEBSOCKET_KEY, &key)
            .send();
        let handshake = async {
            let response = request.await.map_err(ws_error)?;
            if response.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
                return Err(ws_error(format!("answered {}", response.status())));
            }
            let accept = response
                .headers()
                .get(reqwest::header::SEC_WEBSOCKET_ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if accept != expected_accept(&key) {
                return Err(ws_error("wrong Sec-WebSocket-Accept"));
            }
            response.upgrade().await.map_err(ws_error)
        };
        let stream =
            tokio::time::timeout(Duration::from_millis(WS_HANDSHAKE_TIMEOUT_MS), handshake)
                .await
                .map_err(|_| ws_error("handshake timed out"))??;
        Ok(Self {
            stream,
            next_id: 0,
            early: std::collections::VecDeque::new(),
        })
    }

    /// Subscribes to `quote`'s NUT-04 state under `sub_id`, and waits for
    /// the mint's `OK` (at most [`WS_SUBSCRIBE_TIMEOUT_MS`]).
    ///
    /// # Errors
    /// [`Error::Unreachable`] if the socket fails, the mint refuses, or
    /// does not answer in time.
    pub async fn subscribe_mint_quote(&mut self, quote: &str, sub_id: &str) -> Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let request = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "subscribe",
            "params": {"kind": "bolt11_mint_quote", "subId": sub_id, "filters": [quote]},
        });
        self.send_text(request.to_string().as_bytes()).await?;
        let answer = async {
            for _ in 0..WS_MESSAGES_PER_WAIT_MAX {
                let message = self.read_message().await?;
                let Ok(incoming) = serde_json::from_slice::<Incoming>(&message) else {
                    continue;
                };
                if incoming.id.as_ref().and_then(serde_json::Value::as_u64) != Some(id) {
                    // The current state may come before the acknowledgement.
                    if incoming.params.is_some() {
                        self.early.push_back(message);
                    }
                    continue;
                }
                if let Some(e) = incoming.error {
                    return Err(ws_error(format!("subscribe refused: {}", truncated(&e))));
                }
                let ok = incoming
                    .result
                    .as_ref()
                    .and_then(|r| r.get("status"))
                    .and_then(serde_json::Value::as_str)
                    == Some("OK");
                return if ok {
                    Ok(())
                } else {
                    Err(ws_error("subscribe not acknowledged"))
                };
            }
            Err(ws_error("no answer to subscribe"))
        };
        tokio::time::timeout(Duration::from_millis(WS_SUBSCRIBE_TIMEOUT_MS), answer)
            .await
            .map_err(|_| ws_error("subscribe timed out"))?
    }

    /// The next state the mint announces for `quote` under `sub_id`
    /// (`UNPAID`, `PAID`, `ISSUED`, as the mint spells it; bounded to 16
    /// characters). No deadline here: the caller wraps it in one.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when the socket fails or closes.
    pub async fn next_state(&mut self, quote: &str, sub_id: &str) -> Result<String> {
        loop {
            let message = match self.early.pop_front() {
                Some(m) => m,
                None => self.read_message().await?,
            };
            let Ok(incoming) = serde_json::from_slice::<Incoming>(&message) else {
                continue;
            };
            if let Some(n) = incoming.params
                && n.sub_id == sub_id
                && n.payload.quote == quote
                && n.payload.state.len() <= 16
            {
                return Ok(n.payload.state);
            }
        }
    }

    /// Reads one whole text or binary message (fragments joined), answering
    /// pings on the way.
    async fn read_message(&mut self) -> Result<Vec<u8>> {
        let mut message = Vec::new();
        let mut started = false;
        loop {
            let (fin, opcode, payload) = self.read_frame().await?;
            match opcode {
                0x8 => return Err(ws_error("closed by the mint")),
                0x9 => {
                    self.send_frame(0xA, &payload).await?;
                    continue;
                }
                0xA => continue,
                0x1 | 0x2 if !started => started = true,
                0x0 if started => {}
                _ => return Err(ws_error(format!("unexpected opcode {opcode:#x}"))),
            }
            if message.len().saturating_add(payload.len()) > WS_MESSAGE_LEN_MAX {
                return Err(ws_error(format!("message over {WS_MESSAGE_LEN_MAX} bytes")));
            }
            message.extend_from_slice(&payload);
            if fin {
                return Ok(message);
            }
        }
    }

    /// One frame: (FIN, opcode, payload). Server frames are never masked;
    /// reserved bits must be clear; control frames are final and at most
    /// 125 bytes; data frames at most [`WS_FRAME_LEN_MAX`].
    async fn read_frame(&mut self) -> Result<(bool, u8, Vec<u8>)> {
        let mut head = [0u8; 2];
        self.stream.read_exact(&mut head).await.map_err(ws_error)?;
        let [b0, b1] = head;
        let (fin, opcode) = (b0 & 0x80 != 0, b0 & 0x0F);
        if b0 & 0x70 != 0 || b1 & 0x80 != 0 {
            return Err(ws_error("reserved bits or a masked frame from the mint"));
        }
        let len = match b1 & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).await.map_err(ws_error)?;
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).await.map_err(ws_error)?;
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let control = opcode & 0x8 != 0;
        if control && (!fin || len > 125) {
            return Err(ws_error("a fragmented or long control frame"));
        }
        let len = usize::try_from(len)
            .ok()
            .filter(|n| *n <= WS_FRAME_LEN_MAX)
            .ok_or_else(|| ws_error(format!("frame over {WS_FRAME_LEN_MAX} bytes")))?;
        let mut payload = vec![0u8; len];
        self.stream
            .read_exact(&mut payload)
            .await
            .map_err(ws_error)?;
        Ok((fin, opcode, payload))
    }

    async fn send_text(&mut self, payload: &[u8]) -> Result<()> {
        self.send_frame(0x1, payload).await
    }

    /// One final frame, masked with a fresh key (RFC 6455: every client
    /// frame is masked).
    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<()> {
        let frame = encode_client_frame(opcode, payload)?;
        self.stream.write_all(&frame).await.map_err(ws_error)?;
        self.stream.flush().await.map_err(ws_error)
    }
}

/// A final client frame: header, length, mask, masked payload.
fn encode_client_frame(opcode: u8, payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() > WS_FRAME_LEN_MAX {
        return Err(Error::InvalidArgument("websocket frame too long"));
    }
    let mut mask = [0u8; 4];
    getrandom::fill(&mut mask).map_err(|_| Error::Randomness)?;
    // At most WS_FRAME_LEN_MAX (under 2^16): the 7-bit or the 16-bit form.
    let len = u16::try_from(payload.len())
        .map_err(|_| Error::InvalidArgument("websocket frame too long"))?;
    let mut frame = Vec::with_capacity(payload.len().saturating_add(8));
    frame.push(0x80 | (opcode & 0x0F));
    match u8::try_from(len) {
        Ok(n) if n <= 125 => frame.push(0x80 | n),
        _ => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&len.to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    Ok(frame)
}

/// `base64(SHA-1(key ‖ GUID))`, RFC 6455 section 4.2.2.
fn expected_accept(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(ACCEPT_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

fn truncated(value: &serde_json::Value) -> String {
    value.to_string().chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_accept_value_is_rfc_6455s_example() {
        // RFC 6455, section 1.3.
        assert_eq!(
            expected_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn client_frames_are_masked_with_the_right_length_form() {
        for (len, header) in [(0usize, 2usize), (125, 2), (126, 4), (WS_FRAME_LEN_MAX, 4)] {
            let payload = vec![0x5Au8; len];
            let frame = encode_client_frame(0x1, &payload).unwrap();
            assert_eq!(frame[0], 0x81);
            assert!(frame[1] & 0x80 != 0, "masked");
            assert_eq!(frame.len(), header + 4 + len);
            let mask = &frame[header..header + 4];
            let unmasked: Vec<u8> = frame[header + 4..]
                .iter()
                .zip(mask.iter().cycle())
                .map(|(b, m)| b ^ m)
                .collect();
            assert_eq!(unmasked, payload);
        }
        assert!(encode_client_frame(0x1, &vec![0; WS_FRAME_LEN_MAX + 1]).is_err());
    }
}
