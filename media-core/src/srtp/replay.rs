//! Packet-index estimation and the replay window (RFC 3711 sections 3.3.1, 3.3.2 and
//! appendix A).
//!
//! An SRTP packet carries only the low 16 bits of its 48-bit index; the rollover counter
//! (ROC) above them is guessed from the highest index seen on that source. The same window
//! type serves SRTCP, whose 31-bit index travels in full.

use super::SrtpError;

/// How far behind the highest accepted index a packet is still accepted, once (RFC 3711
/// section 3.3.2 asks for at least 64).
pub const REPLAY_WINDOW: u64 = 128;

/// The highest SRTP packet index plus one (RFC 3711 section 3.3.1: 48 bits).
const RTP_INDEX_LIMIT: u64 = 1 << 48;

/// Guesses the 48-bit index of a packet with sequence number `seq` on a source whose
/// highest index so far is `highest` (RFC 3711 appendix A): the candidate within half a
/// sequence cycle of `highest`.
///
/// A guess before index 0 is `TooOld`, one past 2^48 - 1 is `IndexExhausted`.
pub(crate) fn estimate_index(highest: u64, seq: u16) -> Result<u64, SrtpError> {
    let roc = highest >> 16;
    let last = (highest & 0xffff) as u16;

    let roc = if last < 0x8000 {
        if seq > last && seq - last > 0x8000 {
            roc.checked_sub(1).ok_or(SrtpError::TooOld)?
        } else {
            roc
        }
    } else if seq < last - 0x8000 {
        roc + 1
    } else {
        roc
    };

    let index = (roc << 16) | u64::from(seq);
    if index >= RTP_INDEX_LIMIT {
        return Err(SrtpError::IndexExhausted);
    }

    Ok(index)
}

/// The highest index accepted on one source and which of the ones just below it were seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplayWindow {
    highest: u64,
    /// Bit `n` is set when index `highest - n` was accepted.
    seen: u128,
}

impl ReplayWindow {
    /// A window whose first accepted index is `first`.
    pub(crate) fn new(first: u64) -> ReplayWindow {
        ReplayWindow {
            highest: first,
            seen: 1,
        }
    }

    /// The highest index accepted so far.
    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `index` may be accepted: new, and not behind the window (RFC 3711 section 3.3.2).
    pub(crate) fn check(&self, index: u64) -> Result<(), SrtpError> {
        if index > self.highest {
            return Ok(());
        }

        let age = self.highest - index;
        if age >= REPLAY_WINDOW {
            return Err(SrtpError::TooOld);
        }
        if self.seen & (1 << age) != 0 {
            return Err(SrtpError::Replayed);
        }

        Ok(())
    }

    /// Records `index` as accepted, sliding the window forward when it is the new highest.
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let shift = index - self.highest;
            self.seen = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = index;
            return;
        }

        let age = self.highest - index;
        if age < REPLAY_WINDOW {
            self.seen |= 1 << age;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// RFC 3711 appendix A: the guess stays within half a cycle of the highest index.
    #[test]
    fn rfc3711_appendix_a_index_estimation() {
        assert_eq!(estimate_index(0x0_0005, 6), Ok(0x0_0006));
        assert_eq!(estimate_index(0x0_fffe, 1), Ok(0x1_0001));
        assert_eq!(estimate_index(0x1_0002, 0xfffd), Ok(0x0_fffd));
        assert_eq!(estimate_index(0x2_8000, 0x0001), Ok(0x2_0001));
        assert_eq!(estimate_index(0x2_8001, 0x0000), Ok(0x3_0000));
        assert_eq!(estimate_index(0x2_7ffe, 0xffff), Ok(0x1_ffff));
        assert_eq!(estimate_index(0x2_7fff, 0xffff), Ok(0x2_ffff));
        assert_eq!(estimate_index(0x2_0000, 0x8000), Ok(0x2_8000));
    }

    #[test]
    fn index_before_zero_is_too_old_and_past_48_bits_is_exhausted() {
        assert_eq!(estimate_index(10, 0xfff0), Err(SrtpError::TooOld));
        assert_eq!(
            estimate_index(RTP_INDEX_LIMIT - 2, 3),
            Err(SrtpError::IndexExhausted)
        );
    }

    #[test]
    fn window_rejects_replays_and_indices_behind_it() {
        let mut window = ReplayWindow::new(1000);
        window.accept(1002);

        assert_eq!(window.check(1002), Err(SrtpError::Replayed));
        assert_eq!(window.check(1000), Err(SrtpError::Replayed));
        assert_eq!(window.check(1001), Ok(()));
        assert_eq!(window.check(1002 - REPLAY_WINDOW + 1), Ok(()));
        assert_eq!(window.check(1002 - REPLAY_WINDOW), Err(SrtpError::TooOld));
        assert_eq!(window.check(5000), Ok(()));
    }

    #[test]
    fn window_remembers_late_packets_and_forgets_after_a_jump() {
        let mut window = ReplayWindow::new(10);
        window.accept(8);
        assert_eq!(window.check(8), Err(SrtpError::Replayed));

        window.accept(10 + REPLAY_WINDOW + 5);
        assert_eq!(window.highest(), 10 + REPLAY_WINDOW + 5);
        assert_eq!(window.check(10), Err(SrtpError::TooOld));
        assert_eq!(window.check(10 + REPLAY_WINDOW + 4), Ok(()));
    }
}
