//! Transport-wide congestion control feedback
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): the RTPFB message with FMT 15 that
//! reports the arrival time of every packet carrying a transport-wide sequence number.
//!
//! Toward a publisher we are the receiver: [`TwccReceiver`] records arrivals and writes the
//! feedback that drives the browser's send-side bandwidth estimator. Toward a subscriber we
//! are the sender: [`TwccSendLog`] remembers what we sent, and [`parse_twcc`] decodes the
//! subscriber's feedback so that the log can estimate the downlink.

mod chunk;
mod parse;
mod receiver;
mod send_log;
mod window;

pub use parse::{parse_twcc, TwccFeedback, TwccPacket, TwccPackets};
pub use receiver::{TwccReceiver, TwccReceiverConfig};
pub use send_log::{DownlinkEstimate, TwccSendLog};

/// Receive deltas count in ticks of 250 µs (section 3.1.5).
pub(crate) const DELTA_TICK_US: i64 = 250;

/// The reference time counts in ticks of 64 ms (section 3.1).
pub(crate) const REFERENCE_TICK_US: i64 = 64_000;

/// The reference time is a 24-bit field.
pub(crate) const REFERENCE_MASK: u32 = 0x00FF_FFFF;

/// RTCP packet type of transport layer feedback (RFC 4585 section 6.1).
pub const RTPFB: u8 = 205;

/// Feedback message type of transport-cc within RTPFB.
pub const TWCC_FMT: u8 = 15;

/// A malformed transport-cc feedback message; the peer that sent it is at fault, and the
/// message is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TwccError {
    /// The message ends before its chunks or receive deltas do.
    #[error("transport-cc feedback is truncated")]
    Truncated,
    /// The message reports no packets, which the format does not allow.
    #[error("transport-cc feedback reports no packets")]
    Empty,
    /// A reported packet has the reserved status, whose delta size is unknown.
    #[error("transport-cc feedback uses the reserved packet status")]
    ReservedSymbol,
}
