//! Large answers written as a JSON array while the rows are read, and handed over in chunks of
//! about `CHUNK_BYTES`: an answer over every place is never held whole (50,000 places make
//! 27 MB of JSON, and each concurrent search would hold its own), and the rows cross from the
//! thread or task that reads them to the one that sends them a chunk at a time, not a row at a
//! time.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{Result, StorageError};

/// About this many bytes of JSON per chunk: large enough that the hand-over costs nothing per
/// row, small enough that a chunk stays in the CPU's cache.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks waiting for the reader of the stream, per answer: the producer stops (holding its
/// connection) when the client does not keep up.
const CHUNKS_AHEAD: usize = 4;

/// Items serialized into a JSON array, `[` `item` `,` `item` ... `]`, exactly as
/// `serde_json::to_vec(&items)` would write them.
pub(crate) struct JsonArrayWriter {
    buffer: Vec<u8>,
    empty: bool,
}

impl JsonArrayWriter {
    pub(crate) fn new() -> Self {
        let mut buffer = Vec::with_capacity(CHUNK_BYTES + 4096);
        buffer.push(b'[');
        Self {
            buffer,
            empty: true,
        }
    }

    /// Appends `item`; gives back a chunk when one is full.
    pub(crate) fn push(&mut self, item: &impl Serialize) -> Result<Option<Bytes>> {
        if !self.empty {
            self.buffer.push(b',');
        }
        self.empty = false;
        serde_json::to_writer(&mut self.buffer, item)
            .map_err(|error| StorageError::Encode(error.to_string()))?;
        if self.buffer.len() < CHUNK_BYTES {
            return Ok(None);
        }
        let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK_BYTES + 4096));
        Ok(Some(Bytes::from(full)))
    }

    /// The last chunk, with the closing `]`.
    pub(crate) fn finish(mut self) -> Bytes {
        self.buffer.push(b']');
        Bytes::from(self.buffer)
    }
}

/// The sending side, held by whatever reads the rows.
pub(crate) type ChunkSender = mpsc::Sender<Result<Bytes>>;

/// A JSON answer as it is produced: `Ok` chunks, in order, then the end; or an `Err` where the
/// production failed (the chunks before it are not a whole answer).
pub struct JsonChunks {
    chunks: mpsc::Receiver<Result<Bytes>>,
}

impl JsonChunks {
    pub(crate) fn channel() -> (ChunkSender, JsonChunks) {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        (sender, JsonChunks { chunks })
    }
}

impl futures_util::Stream for JsonChunks {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_serde_json_writes_whatever_the_chunking() {
        for count in [0, 1, 2, 5_000] {
            let items: Vec<serde_json::Value> = (0..count)
                .map(|n| serde_json::json!({"n": n, "text": "\"quoted\" \u{e9}\n".repeat(n % 7)}))
                .collect();
            let mut writer = JsonArrayWriter::new();
            let mut whole = Vec::new();
            for item in &items {
                if let Some(chunk) = writer.push(item).unwrap() {
                    assert!(chunk.len() >= CHUNK_BYTES);
                    whole.extend_from_slice(&chunk);
                }
            }
            whole.extend_from_slice(&writer.finish());
            assert_eq!(whole, serde_json::to_vec(&items).unwrap(), "{count} items");
        }
    }
}
