//! One direction of one SRTP association: session keys, and per-SSRC index state in a small
//! bounded table (RFC 3711 sections 3.2.1 and 3.3).
//!
//! Calling convention: a session either protects (our outgoing packets) or unprotects (the
//! peer's), never both. Each call transforms one packet in place in the caller's buffer and
//! allocates nothing; the table is sized once when the session is made. A source's state
//! moves only after its packet authenticated, so forged packets cannot shift the rollover
//! counter or the replay window.

use std::fmt;

use super::header::{parse_rtp, rtcp_ssrc, MAX_PACKET_LEN, RTCP_HEADER_LEN};
use super::replay::{estimate_index, ReplayWindow};
use super::transform::{Transform, SRTCP_E_FLAG};
use super::{MasterKey, SrtpError, SrtpProfile};

/// The most SSRCs one session tracks; a packet from one more is refused, never evicting.
pub const MAX_SOURCES: usize = 64;

/// The highest SRTCP index (RFC 3711 section 3.4: 31 bits).
const SRTCP_INDEX_MAX: u64 = (1 << 31) - 1;

/// One direction of one SRTP association: we either protect with it or unprotect with it.
pub struct SrtpSession {
    profile: SrtpProfile,
    transform: Transform,
    sources: SourceTable,
}

impl SrtpSession {
    /// Derives the session keys of `key`, which must be for `profile`.
    pub fn new(profile: SrtpProfile, key: &MasterKey) -> Result<SrtpSession, SrtpError> {
        if key.profile() != profile {
            return Err(SrtpError::InvalidKey);
        }

        Ok(SrtpSession {
            profile,
            transform: Transform::derive(key)?,
            sources: SourceTable::with_capacity(MAX_SOURCES),
        })
    }

    /// The protection profile the session was keyed for.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// How many SSRCs the session holds state for, at most [`MAX_SOURCES`].
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Protects the plain RTP packet in `buf[..len]` in place; `buf` must have
    /// [`SrtpProfile::rtp_overhead`] more bytes of room. Returns the SRTP length.
    ///
    /// The rollover counter follows the sequence numbers we send, so a retransmission of an
    /// older number gets its original index.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let header = parse_rtp(buf.get(..len).ok_or(SrtpError::BufferTooSmall)?)?;
        if len > MAX_PACKET_LEN {
            return Err(SrtpError::Malformed);
        }
        let out_len = len + self.profile.rtp_overhead();
        let out = buf.get_mut(..out_len).ok_or(SrtpError::BufferTooSmall)?;

        let slot = self.sources.find(header.ssrc)?;
        let index = match self.sources.rtp_window(slot) {
            Some(window) => estimate_index(window.highest(), header.seq)?,
            None => u64::from(header.seq),
        };
        self.transform.protect_rtp(out, &header, index)?;

        self.sources.entry(slot, header.ssrc)?.accept_rtp(index);
        Ok(out_len)
    }

    /// Authenticates and decrypts the SRTP packet that fills `buf` in place. Returns the
    /// plain RTP length; the bytes after it are left over from the tag. On error, drop the
    /// packet: with GCM its payload may have been overwritten.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        if buf.len() > MAX_PACKET_LEN {
            return Err(SrtpError::Malformed);
        }
        let plain_len = buf.len().checked_sub(self.profile.rtp_overhead());
        let plain = plain_len
            .and_then(|len| buf.get(..len))
            .ok_or(SrtpError::Malformed)?;
        let header = parse_rtp(plain)?;
        let plain_len = plain.len();

        let slot = self.sources.find(header.ssrc)?;
        let index = match self.sources.rtp_window(slot) {
            Some(window) => {
                let index = estimate_index(window.highest(), header.seq)?;
                window.check(index)?;
                index
            }
            None => u64::from(header.seq),
        };
        self.transform.unprotect_rtp(buf, &header, index)?;

        self.sources.entry(slot, header.ssrc)?.accept_rtp(index);
        Ok(plain_len)
    }

    /// Protects the plain RTCP packet (compound or not) in `buf[..len]` in place with the E
    /// flag set; `buf` must have [`SrtpProfile::rtcp_overhead`] more bytes of room. Returns
    /// the SRTCP length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        let ssrc = rtcp_ssrc(packet)?;
        if len > MAX_PACKET_LEN {
            return Err(SrtpError::Malformed);
        }
        let out_len = len + self.profile.rtcp_overhead();
        let out = buf.get_mut(..out_len).ok_or(SrtpError::BufferTooSmall)?;

        let slot = self.sources.find(ssrc)?;
        let index = match self.sources.rtcp_window(slot) {
            Some(window) => window.highest() + 1,
            None => 0,
        };
        if index > SRTCP_INDEX_MAX {
            return Err(SrtpError::IndexExhausted);
        }
        self.transform.protect_rtcp(out, len, ssrc, index as u32)?;

        self.sources.entry(slot, ssrc)?.accept_rtcp(index);
        Ok(out_len)
    }

    /// Authenticates and decrypts the SRTCP packet that fills `buf` in place. Returns the
    /// plain RTCP length. On error, drop the packet: its bytes may have been overwritten.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let plain_len = buf.len().checked_sub(self.profile.rtcp_overhead());
        let plain_len = plain_len.filter(|len| *len >= RTCP_HEADER_LEN);
        let plain_len = plain_len.ok_or(SrtpError::Malformed)?;
        if buf.len() > MAX_PACKET_LEN {
            return Err(SrtpError::Malformed);
        }
        let ssrc = rtcp_ssrc(buf)?;
        let word = self.transform.srtcp_word(buf)?;
        if word & SRTCP_E_FLAG == 0 {
            return Err(SrtpError::Unsupported);
        }
        let index = u64::from(word & !SRTCP_E_FLAG);

        let slot = self.sources.find(ssrc)?;
        if let Some(window) = self.sources.rtcp_window(slot) {
            window.check(index)?;
        }
        self.transform.unprotect_rtcp(buf, plain_len, ssrc, word)?;

        self.sources.entry(slot, ssrc)?.accept_rtcp(index);
        Ok(plain_len)
    }
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession")
            .field("profile", &self.profile)
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

/// Where a source's state lives: at an index of the table, or not yet (a new SSRC that fits).
type Slot = Option<usize>;

/// Index state of one SSRC: the highest RTP and SRTCP indices and their replay windows.
#[derive(Debug, Clone, Copy, Default)]
struct SourceState {
    rtp: Option<ReplayWindow>,
    rtcp: Option<ReplayWindow>,
}

impl SourceState {
    fn accept_rtp(&mut self, index: u64) {
        match &mut self.rtp {
            Some(window) => window.accept(index),
            None => self.rtp = Some(ReplayWindow::new(index)),
        }
    }

    fn accept_rtcp(&mut self, index: u64) {
        match &mut self.rtcp {
            Some(window) => window.accept(index),
            None => self.rtcp = Some(ReplayWindow::new(index)),
        }
    }
}

/// A bounded SSRC table, its storage allocated once. The SSRCs sit in their own array so
/// that the per-packet linear search touches a few cache lines only.
struct SourceTable {
    ssrcs: Vec<u32>,
    states: Vec<SourceState>,
    capacity: usize,
}

impl SourceTable {
    fn with_capacity(capacity: usize) -> SourceTable {
        SourceTable {
            ssrcs: Vec::with_capacity(capacity),
            states: Vec::with_capacity(capacity),
            capacity,
        }
    }

    fn len(&self) -> usize {
        self.ssrcs.len()
    }

    /// The slot of `ssrc`; `TooManySources` when it is new and the table is full.
    fn find(&self, ssrc: u32) -> Result<Slot, SrtpError> {
        match self.ssrcs.iter().position(|known| *known == ssrc) {
            Some(at) => Ok(Some(at)),
            None if self.ssrcs.len() < self.capacity => Ok(None),
            None => Err(SrtpError::TooManySources),
        }
    }

    fn rtp_window(&self, slot: Slot) -> Option<ReplayWindow> {
        slot.and_then(|at| self.states.get(at))
            .and_then(|state| state.rtp)
    }

    fn rtcp_window(&self, slot: Slot) -> Option<ReplayWindow> {
        slot.and_then(|at| self.states.get(at))
            .and_then(|state| state.rtcp)
    }

    /// The state in `slot`, adding `ssrc` when the slot is new; only called once the packet
    /// has authenticated. Never grows past the capacity, so never reallocates.
    fn entry(&mut self, slot: Slot, ssrc: u32) -> Result<&mut SourceState, SrtpError> {
        let at = match slot {
            Some(at) => at,
            None if self.ssrcs.len() < self.capacity => {
                tracing::trace!(target: "srtp", ssrc, "new SRTP source");
                self.ssrcs.push(ssrc);
                self.states.push(SourceState::default());
                self.ssrcs.len() - 1
            }
            None => return Err(SrtpError::TooManySources),
        };

        self.states.get_mut(at).ok_or(SrtpError::TooManySources)
    }
}
