//! The response body type of [`TaxiiService`](crate::TaxiiService).
//!
//! A response is a list of byte chunks: stored STIX objects are shared [`Bytes`], so
//! an envelope is written by joining them with a few bytes of JSON around, never by
//! re-serializing the objects. The body hands them out in frames of up to 64 KiB and
//! reports its exact length, so servers send a `Content-Length`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

/// How many bytes one frame gathers from small chunks.
const FRAME_SIZE: usize = 64 * 1024;

/// The body of every response of the TAXII service.
#[derive(Debug, Default)]
pub struct TaxiiBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl TaxiiBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body made of these chunks, sent in order.
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let mut chunks: Vec<Bytes> = chunks.into_iter().collect();
        chunks.retain(|c| !c.is_empty());
        // From a Vec, a VecDeque takes over its buffer instead of copying it.
        let chunks = VecDeque::from(chunks);
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        TaxiiBody { chunks, remaining }
    }
}

impl From<Vec<u8>> for TaxiiBody {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_chunks([Bytes::from(bytes)])
    }
}

impl From<Bytes> for TaxiiBody {
    fn from(bytes: Bytes) -> Self {
        Self::from_chunks([bytes])
    }
}

impl Body for TaxiiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let Some(first) = self.chunks.pop_front() else {
            return Poll::Ready(None);
        };
        let frame = if first.len() >= FRAME_SIZE || self.chunks.front().is_none_or(|next| first.len() + next.len() > FRAME_SIZE) {
            first
        } else {
            // Exactly the room the chunks that fit take: a small response is not
            // given a whole frame's buffer.
            let (mut size, mut taken) = (first.len(), 0);
            for next in &self.chunks {
                if size + next.len() > FRAME_SIZE {
                    break;
                }
                size += next.len();
                taken += 1;
            }
            let mut buf = BytesMut::with_capacity(size);
            buf.extend_from_slice(&first);
            for next in self.chunks.drain(..taken) {
                buf.extend_from_slice(&next);
            }
            buf.freeze()
        };
        self.remaining -= frame.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn joins_small_chunks_and_keeps_big_ones_whole() {
        let big = Bytes::from(vec![b'x'; FRAME_SIZE + 1]);
        let chunks = vec![
            Bytes::from_static(b"{"),
            Bytes::from_static(b""),
            Bytes::from_static(b"\"a\":1"),
            big.clone(),
            Bytes::from_static(b"}"),
        ];
        let mut body = TaxiiBody::from_chunks(chunks);
        assert_eq!(body.size_hint().exact(), Some(FRAME_SIZE as u64 + 8));
        let mut frames = Vec::new();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            frames.push(frame.into_data().unwrap());
        }
        assert_eq!(frames, vec![Bytes::from_static(b"{\"a\":1"), big, Bytes::from_static(b"}")]);
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    #[test]
    fn collects_to_the_concatenation() {
        let body = TaxiiBody::from_chunks((0..10_000).map(|i| Bytes::from(format!("{i},"))));
        let expected: String = (0..10_000).map(|i| format!("{i},")).collect();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut fut = Box::pin(body.collect());
        let Poll::Ready(Ok(collected)) = fut.as_mut().poll(&mut cx) else {
            panic!("the body is ready at once")
        };
        assert_eq!(collected.to_bytes(), expected.as_bytes());
    }
}
