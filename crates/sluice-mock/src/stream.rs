//! Server-sent event streams: written once into one buffer, then played out as a body that
//! paces token events (time to first token, tokens per second) and can drop the connection
//! after N events.
//!
//! Pacing is scheduled from the body's creation, not from each poll, so `tokens_per_second`
//! holds over a long stream. Without pacing or a drop the whole stream is one frame.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use serde::Serialize;
use tokio::time::{Instant, Sleep};

/// Where an event sits in the stream, which decides its delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Sent right after the response head (`message_start`, an OpenAI role chunk, `ping`).
    Preamble,
    /// Carries generated output: the first waits `ttft`, each later one the token interval.
    Token,
    /// Finish, usage, `[DONE]`, `message_stop`: right after the last token.
    Tail,
}

/// How a stream is played out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pacing {
    pub ttft: Duration,
    pub per_token: Duration,
    /// Close the connection after this many events.
    pub drop_after: Option<u32>,
}

/// Builds the events of one stream into a single buffer.
#[derive(Debug)]
pub(crate) struct SseWriter {
    buf: Vec<u8>,
    /// End offset and beat of each event.
    events: Vec<(usize, Beat)>,
}

impl SseWriter {
    pub fn new() -> Self {
        SseWriter {
            buf: Vec::with_capacity(2048),
            events: Vec::with_capacity(16),
        }
    }

    /// `event: NAME` (Anthropic) when a name is given, then `data: JSON`.
    pub fn event(&mut self, name: Option<&str>, beat: Beat, data: &impl Serialize) {
        if let Some(name) = name {
            self.buf.extend_from_slice(b"event: ");
            self.buf.extend_from_slice(name.as_bytes());
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut self.buf, data).expect("mock events serialize");
        self.buf.extend_from_slice(b"\n\n");
        self.events.push((self.buf.len(), beat));
    }

    /// OpenAI's terminator.
    pub fn done(&mut self) {
        let _ = self.buf.write_all(b"data: [DONE]\n\n");
        self.events.push((self.buf.len(), Beat::Tail));
    }

    pub fn finish(self, pacing: Pacing) -> SseBody {
        SseBody::new(Bytes::from(self.buf), &self.events, pacing)
    }
}

/// One event and how long after the previous one it is due.
#[derive(Debug)]
struct Scheduled {
    bytes: Bytes,
    delay: Duration,
}

/// The streaming response body.
#[derive(Debug)]
pub struct SseBody {
    events: std::vec::IntoIter<Scheduled>,
    /// When the previous event was due; the next one is due `delay` later.
    due: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The event waiting for its sleep to end.
    pending: Option<Bytes>,
    drop: DropState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DropState {
    /// The stream ends normally.
    Never,
    /// After the last event, let the written bytes reach the socket, then fail the body.
    AfterEvents,
    Flushing,
}

/// Why a stream ended early: it was told to.
#[derive(Debug, thiserror::Error)]
#[error("sluice mock dropped the stream on purpose (drop_stream_after_chunks)")]
pub struct StreamDropped;

impl SseBody {
    fn new(all: Bytes, events: &[(usize, Beat)], pacing: Pacing) -> SseBody {
        let keep = pacing
            .drop_after
            .map_or(events.len(), |n| (n as usize).min(events.len()));
        let drop = if keep < events.len() {
            DropState::AfterEvents
        } else {
            DropState::Never
        };
        let paced = !pacing.ttft.is_zero() || !pacing.per_token.is_zero();
        let mut scheduled = Vec::with_capacity(if paced { keep } else { 1 });
        if paced {
            let mut start = 0;
            let mut tokens = 0;
            for &(end, beat) in &events[..keep] {
                let delay = match beat {
                    Beat::Token if tokens == 0 => pacing.ttft,
                    Beat::Token => pacing.per_token,
                    Beat::Preamble | Beat::Tail => Duration::ZERO,
                };
                tokens += usize::from(beat == Beat::Token);
                scheduled.push(Scheduled {
                    bytes: all.slice(start..end),
                    delay,
                });
                start = end;
            }
        } else {
            let end = keep.checked_sub(1).map_or(0, |last| events[last].0);
            if end > 0 {
                scheduled.push(Scheduled {
                    bytes: all.slice(..end),
                    delay: Duration::ZERO,
                });
            }
        }
        SseBody {
            events: scheduled.into_iter(),
            due: Instant::now(),
            sleep: None,
            pending: None,
            drop,
        }
    }
}

impl SseBody {
    /// Whether this stream ends by dropping the connection.
    pub(crate) fn drops(&self) -> bool {
        self.drop != DropState::Never
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = StreamDropped;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamDropped>>> {
        let this = self.get_mut();
        if let Some(sleep) = this.sleep.as_mut()
            && this.pending.is_some()
        {
            std::task::ready!(sleep.as_mut().poll(cx));
            let bytes = this.pending.take().expect("checked above");
            return Poll::Ready(Some(Ok(Frame::data(bytes))));
        }
        if let Some(event) = this.events.next() {
            if event.delay.is_zero() {
                return Poll::Ready(Some(Ok(Frame::data(event.bytes))));
            }
            this.due += event.delay;
            match this.sleep.as_mut() {
                Some(sleep) => sleep.as_mut().reset(this.due),
                None => this.sleep = Some(Box::pin(tokio::time::sleep_until(this.due))),
            }
            this.pending = Some(event.bytes);
            // Poll the sleep now so its waker is registered.
            return Pin::new(this).poll_frame(cx);
        }
        match this.drop {
            DropState::Never => Poll::Ready(None),
            DropState::AfterEvents => {
                // Returning Pending lets hyper flush what it has before the error closes the
                // connection, so the client really sees the first N events.
                this.drop = DropState::Flushing;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            DropState::Flushing => Poll::Ready(Some(Err(StreamDropped))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.drop == DropState::Never && self.pending.is_none() && self.events.len() == 0
    }
}

#[cfg(test)]
mod tests;
