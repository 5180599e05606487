//! Placeholder: support sessions with media participants in this process.

use std::sync::Arc;

use super::App;

/// The live sessions of this process.
#[derive(Debug, Default)]
pub struct LiveSessions {}

impl LiveSessions {
    /// Number of live sessions.
    pub fn len(&self) -> usize {
        0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Starts the engine event pump and the periodic clean-up.
pub(super) fn spawn_background(_app: &Arc<App>) {}

/// Ends every live session with `reason`.
pub(super) async fn end_all(_app: &Arc<App>, _reason: &str) {}
