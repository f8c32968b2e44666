//! Large answers written as a JSON array while the rows are read, and handed over in chunks of
//! about `CHUNK_BYTES`: an answer over every place is never held whole (50,000 places make
//! 27 MB of JSON, and each concurrent search would hold its own), and the rows cross from the
//! thread or task that reads them to the one that sends them a chunk at a time, not a row at a
//! time.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::{Result, StorageError};

/// About this many bytes of JSON per chunk: large enough that the hand-over costs nothing per
/// row, small enough that a chunk stays in the CPU's cache.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks waiting for the reader of the stream, per answer: the producer stops (holding its
/// connection) when the client does not keep up.
const CHUNKS_AHEAD: usize = 4;

/// How long the producer waits for the client to take a chunk (all `CHUNKS_AHEAD` are waiting)
/// before it gives the answer up: a client that stops reading must not keep one of SQLite's few
/// reader threads, or a database server's connection, for ever. Nginx's `send_timeout` is 60 s;
/// a reader is scarcer than a connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The sending side, held by whatever reads the rows. Dropped before `finish` or `fail` (the
/// producer stopped: the client was too slow, or it panicked), the answer ends with an error
/// after the chunks sent, never as if it were whole.
pub(crate) struct ChunkSender {
    chunks: mpsc::Sender<Result<Bytes>>,
    ended: Arc<AtomicBool>,
    timeout: Duration,
}

impl ChunkSender {
    /// Sends a chunk; false when the producer must stop: the answer's reader is gone (the client
    /// left) or has taken nothing for `SEND_TIMEOUT`.
    pub(crate) async fn send(&mut self, chunk: Bytes) -> bool {
        match tokio::time::timeout(self.timeout, self.chunks.send(Ok(chunk))).await {
            Ok(sent) => sent.is_ok(),
            Err(_) => {
                tracing::warn!(
                    timeout = ?self.timeout,
                    "the client took no part of a streamed answer in time: answer abandoned"
                );
                false
            }
        }
    }

    /// The last chunk: the answer is whole.
    pub(crate) async fn finish(mut self, last: Bytes) {
        if self.send(last).await {
            self.ended.store(true, Ordering::Release);
        }
    }

    /// The answer failed: its reader gets `error` after the chunks sent.
    pub(crate) async fn fail(self, error: StorageError) {
        self.ended.store(true, Ordering::Release);
        let _ = tokio::time::timeout(self.timeout, self.chunks.send(Err(error))).await;
    }

    /// `send` on one of tokio's blocking threads (SQLite's readers), which run in the runtime.
    pub(crate) fn blocking_send(&mut self, chunk: Bytes) -> bool {
        tokio::runtime::Handle::current().block_on(self.send(chunk))
    }

    pub(crate) fn blocking_finish(self, last: Bytes) {
        tokio::runtime::Handle::current().block_on(self.finish(last))
    }

    pub(crate) fn blocking_fail(self, error: StorageError) {
        tokio::runtime::Handle::current().block_on(self.fail(error))
    }
}

/// A JSON answer as it is produced: `Ok` chunks, in order, then the end; or an `Err` where the
/// production failed or stopped (the chunks before it are not a whole answer).
pub struct JsonChunks {
    chunks: mpsc::Receiver<Result<Bytes>>,
    ended: Arc<AtomicBool>,
    cut_reported: bool,
}

impl JsonChunks {
    pub(crate) fn channel() -> (ChunkSender, JsonChunks) {
        Self::channel_with_timeout(SEND_TIMEOUT)
    }

    fn channel_with_timeout(timeout: Duration) -> (ChunkSender, JsonChunks) {
        let (sender, chunks) = mpsc::channel(CHUNKS_AHEAD);
        let ended = Arc::new(AtomicBool::new(false));
        let sender = ChunkSender {
            chunks: sender,
            ended: Arc::clone(&ended),
            timeout,
        };
        let chunks = JsonChunks {
            chunks,
            ended,
            cut_reported: false,
        };
        (sender, chunks)
    }
}

impl futures_util::Stream for JsonChunks {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(None) if !self.ended.load(Ordering::Acquire) && !self.cut_reported => {
                self.cut_reported = true;
                Poll::Ready(Some(Err(StorageError::Reader(
                    "the answer stopped before its end".into(),
                ))))
            }
            other => other,
        }
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

    async fn drain(chunks: &mut JsonChunks) -> Vec<Result<Bytes>> {
        use futures_util::StreamExt;
        let mut all = Vec::new();
        while let Some(item) = chunks.next().await {
            all.push(item);
        }
        all
    }

    #[tokio::test]
    async fn a_whole_answer_ends_cleanly() {
        let (mut sender, mut chunks) = JsonChunks::channel();
        let producer = tokio::spawn(async move {
            assert!(sender.send(Bytes::from_static(b"[1,")).await);
            sender.finish(Bytes::from_static(b"2]")).await;
        });
        let all = drain(&mut chunks).await;
        producer.await.unwrap();
        let all: Vec<Bytes> = all.into_iter().map(|c| c.unwrap()).collect();
        assert_eq!(all, [Bytes::from_static(b"[1,"), Bytes::from_static(b"2]")]);
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_is_given_up_and_the_answer_ends_in_an_error() {
        let (mut sender, mut chunks) = JsonChunks::channel_with_timeout(Duration::from_millis(50));
        for _ in 0..CHUNKS_AHEAD {
            assert!(sender.send(Bytes::from_static(b"x")).await);
        }
        // Nobody reads: the next chunk waits for its timeout, then the producer stops.
        let started = std::time::Instant::now();
        assert!(!sender.send(Bytes::from_static(b"x")).await);
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(sender);
        let all = drain(&mut chunks).await;
        assert_eq!(all.len(), CHUNKS_AHEAD + 1);
        assert!(all[..CHUNKS_AHEAD].iter().all(|c| c.is_ok()));
        assert!(matches!(all[CHUNKS_AHEAD], Err(StorageError::Reader(_))));
    }

    #[tokio::test]
    async fn a_producer_dropped_midway_never_looks_whole() {
        let (mut sender, mut chunks) = JsonChunks::channel();
        assert!(sender.send(Bytes::from_static(b"[1,")).await);
        drop(sender); // as a panicking reader thread would
        let all = drain(&mut chunks).await;
        assert!(all[0].is_ok());
        assert!(matches!(all.last(), Some(Err(StorageError::Reader(_)))));
    }

    #[tokio::test]
    async fn a_failure_is_reported_once() {
        let (mut sender, mut chunks) = JsonChunks::channel();
        assert!(sender.send(Bytes::from_static(b"[1,")).await);
        sender
            .fail(StorageError::Reader("the disk is gone".into()))
            .await;
        let all = drain(&mut chunks).await;
        assert_eq!(all.len(), 2);
        assert!(matches!(&all[1], Err(StorageError::Reader(m)) if m == "the disk is gone"));
    }
}
