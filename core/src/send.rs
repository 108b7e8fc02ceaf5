//! The send queue: accepted bytes waiting for the socket, and the tokens they complete.
//!
//! Every accepted send records the stream offset of its last byte. Writing advances the
//! `written` offset; a token completes when `written` reaches its end offset, so tokens
//! complete in order however writes are split (lori's byte-offset accounting).

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};

use crate::event::SendToken;

#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    /// Unwritten chunks; the front one is advanced past its written prefix.
    chunks: VecDeque<Bytes>,
    /// Stream offset up to which bytes were handed to the kernel.
    written: u64,
    /// Stream offset up to which bytes were accepted.
    accepted: u64,
    /// Pending tokens with the stream offset their last byte ends at, in token order.
    tokens: VecDeque<(u64, SendToken)>,
}

impl SendQueue {
    /// Bytes accepted but not yet written.
    pub(crate) fn queued_bytes(&self) -> usize {
        // Bounded by the memory holding the chunks, so it fits a usize.
        (self.accepted - self.written) as usize
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Total bytes handed to the kernel.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Queues one chunk; empty chunks are skipped.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.accepted += chunk.len() as u64;
            self.chunks.push_back(chunk);
        }
    }

    /// Records a token ending at everything pushed so far.
    pub(crate) fn push_token(&mut self, token: SendToken) {
        self.tokens.push_back((self.accepted, token));
    }

    /// Fills `out` with the queued chunks in order, returning how many slots were filled.
    pub(crate) fn write_slices<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, chunk) in out.iter_mut().zip(&self.chunks) {
            *slot = IoSlice::new(chunk);
            filled += 1;
        }
        filled
    }

    /// Marks `n` queued bytes as written (at most what is queued), handing every chunk
    /// written completely to `done`.
    #[inline]
    pub(crate) fn advance(&mut self, n: usize, mut done: impl FnMut(Bytes)) {
        let mut left = n.min(self.queued_bytes());
        self.written += left as u64;
        while left > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                if let Some(chunk) = self.chunks.pop_front() {
                    done(chunk);
                }
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }

    /// The next pending token whose bytes are all written.
    pub(crate) fn pop_completed(&mut self) -> Option<SendToken> {
        match self.tokens.front() {
            Some(&(end, token)) if end <= self.written => {
                self.tokens.pop_front();
                Some(token)
            }
            _ => None,
        }
    }

    /// Drops every unwritten byte and returns the pending tokens, which will never complete.
    ///
    /// Call after `pop_completed` returned `None`.
    pub(crate) fn abandon(&mut self) -> impl Iterator<Item = SendToken> {
        self.chunks = VecDeque::new();
        self.accepted = self.written;
        std::mem::take(&mut self.tokens)
            .into_iter()
            .map(|(_, token)| token)
    }
}

impl SendQueue {
    /// Whether an accepted send has not completed yet (bytes queued without a token, such
    /// as TLS records the layer made by itself, do not count).
    #[cfg(feature = "tls")]
    pub(crate) fn has_pending_sends(&self) -> bool {
        !self.tokens.is_empty()
    }
}
