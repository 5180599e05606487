//! RTCP feedback for the forwarder, without I/O: what we report about the media we receive
//! and how we react to what our peers report about the media we send.
//!
//! - [`ReceiveStats`]: sequence validation, loss and jitter of an inbound source, and the
//!   report block about it (RFC 3550 appendices A.1, A.3, A.8 and section 6.4.1);
//!   [`rtt_from_report`] for the report blocks we get back.
//! - [`NackGenerator`]: which missing packets to request from a publisher, and when
//!   (RFC 4585 generic NACK); [`RtxCache`]: recent packets to answer subscribers' NACKs.
//! - [`KeyframeRequestLimiter`]: pacing of PLI and FIR toward a publisher.
//! - [`TwccReceiver`], [`parse_twcc`], [`TwccSendLog`]: transport-wide congestion control
//!   feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01), whose byte format lives
//!   here; every other RTCP byte format belongs to [`crate::rtp`], which this module hands
//!   plain values.
//!
//! Times are `Instant`s passed in by the caller; nothing here reads the clock. Every
//! structure allocates when it is built and not per packet, and holds a bounded amount of
//! state per participant.

mod keyframe;
mod nack;
mod receive;
mod rtt;
mod rtx;
mod stats;
mod twcc;

#[cfg(test)]
mod tests;

pub use keyframe::KeyframeRequestLimiter;
pub use nack::{NackConfig, NackCounters, NackGenerator};
pub use receive::{ReceiveCounters, ReceiveStats, ReportBlockValues};
pub use rtt::{compact_ntp, rtt_from_report};
pub use rtx::RtxCache;
pub use stats::TrackStats;
pub use twcc::{
    parse_twcc, DownlinkEstimate, TwccError, TwccFeedback, TwccPacket, TwccPackets, TwccReceiver,
    TwccReceiverConfig, TwccSendLog, RTPFB, TWCC_FMT,
};
