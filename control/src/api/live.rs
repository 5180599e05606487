//! Placeholder: support sessions with media participants in this process.

/// The live sessions of this process.
#[derive(Debug, Default)]
pub struct LiveSessions {}
