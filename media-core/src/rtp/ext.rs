//! RTP header extension elements (RFC 8285): reading both forms, remapping a source's
//! local ids to a subscriber's, and encoding a new block in whichever form fits.

use std::fmt;

use super::header::{ONE_BYTE_PROFILE, TWO_BYTE_PROFILE};
use super::wire::Cursor;
use super::RtpError;
use crate::ids::ExtId;

/// Iterator over the `(id, value)` elements of an extension block.
///
/// Padding bytes (a zero where an element would start) are skipped. Iteration ends at the
/// first element that runs past the block, and in the one-byte form at id 15, which
/// RFC 8285 section 4.2 says ends processing of the block.
#[derive(Debug, Clone)]
pub struct ExtIter<'a> {
    data: &'a [u8],
    two_byte: bool,
}

impl<'a> ExtIter<'a> {
    pub(crate) fn empty() -> ExtIter<'a> {
        ExtIter {
            data: &[],
            two_byte: false,
        }
    }

    pub(crate) fn one_byte(data: &'a [u8]) -> ExtIter<'a> {
        ExtIter {
            data,
            two_byte: false,
        }
    }

    pub(crate) fn two_byte(data: &'a [u8]) -> ExtIter<'a> {
        ExtIter {
            data,
            two_byte: true,
        }
    }

    /// Reads the element header at the front: `(id, header length, value length)`.
    ///
    /// ```text
    /// one-byte:  |  ID   |  L-1  |         two-byte:  |      ID       |    length     |
    /// ```
    fn element_header(&self, first: u8) -> Option<(u8, usize, usize)> {
        if self.two_byte {
            let len = *self.data.get(1)?;
            return Some((first, 2, usize::from(len)));
        }
        let id = first >> 4;
        if id == 15 {
            return None;
        }

        Some((id, 1, usize::from(first & 0x0F) + 1))
    }
}

impl<'a> Iterator for ExtIter<'a> {
    type Item = (ExtId, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (&first, rest) = self.data.split_first()?;
            if first == 0 {
                self.data = rest;
                continue;
            }
            let Some((id, head, len)) = self.element_header(first) else {
                self.data = &[];
                return None;
            };
            let Some((value, rest)) = self
                .data
                .get(head..)
                .and_then(|after| after.split_at_checked(len))
            else {
                self.data = &[];
                return None;
            };
            self.data = rest;

            return Some((ExtId(id), value));
        }
    }
}

/// Maps a source's header-extension ids to a subscriber's; 0 means the element is
/// dropped. A flat table of 256 entries, so a lookup is one load and no allocation.
#[derive(Clone, PartialEq, Eq)]
pub struct ExtMap([u8; 256]);

impl ExtMap {
    /// A map that drops every extension.
    pub fn new() -> ExtMap {
        ExtMap([0; 256])
    }

    /// Forwards the source's `src` elements under the subscriber's id `dst`
    /// (`ExtId(0)` drops them again).
    pub fn set(&mut self, src: ExtId, dst: ExtId) {
        self.0[usize::from(src.0)] = dst.0;
    }

    /// The subscriber's id for the source's `src`, or `None` when it is dropped.
    pub fn get(&self, src: ExtId) -> Option<ExtId> {
        match self.0[usize::from(src.0)] {
            0 => None,
            dst => Some(ExtId(dst)),
        }
    }
}

impl Default for ExtMap {
    fn default() -> Self {
        ExtMap::new()
    }
}

impl fmt::Debug for ExtMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mapped = self.0.iter().enumerate().filter(|(_, dst)| **dst != 0);
        f.debug_map().entries(mapped).finish()
    }
}

/// Receives the elements of an extension block being built, one `(id, value)` at a time.
pub(crate) type ElementSink<'s> = dyn FnMut(ExtId, &[u8]) -> Result<(), RtpError> + 's;

/// The form and size of an extension block about to be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtPlan {
    two_byte: bool,
    elements: usize,
    data_len: usize,
}

impl ExtPlan {
    /// Sizes a block for the elements `each` produces, choosing the one-byte form when
    /// every id is 1..=14 and every value 1..=16 bytes long (RFC 8285 section 4.2).
    pub(crate) fn new<F>(each: F) -> Result<ExtPlan, RtpError>
    where
        F: FnOnce(&mut ElementSink<'_>) -> Result<(), RtpError>,
    {
        let (mut elements, mut one, mut two, mut fits_one) = (0, 0, 0, true);
        each(&mut |id, value| {
            if id.0 == 0 || value.len() > 255 {
                return Err(RtpError::InvalidSpec(
                    "extension id 0 or value over 255 bytes",
                ));
            }
            fits_one &= id.0 <= 14 && (1..=16).contains(&value.len());
            elements += 1;
            one += 1 + value.len();
            two += 2 + value.len();
            Ok(())
        })?;
        let data_len = if fits_one { one } else { two };
        if data_len.div_ceil(4) > usize::from(u16::MAX) {
            return Err(RtpError::ExtensionTooLarge);
        }

        Ok(ExtPlan {
            two_byte: !fits_one,
            elements,
            data_len,
        })
    }

    /// Bytes the whole block takes: the 4-byte header and the data padded to 32 bits,
    /// or nothing when there are no elements.
    pub(crate) fn block_len(&self) -> usize {
        if self.elements == 0 {
            return 0;
        }

        4 + self.data_len.next_multiple_of(4)
    }

    /// Writes the block: header, the elements `each` produces (the same ones it produced
    /// for [`ExtPlan::new`]), then zero padding.
    pub(crate) fn write<F>(&self, out: &mut Cursor<'_>, each: F) -> Result<(), RtpError>
    where
        F: FnOnce(&mut ElementSink<'_>) -> Result<(), RtpError>,
    {
        if self.elements == 0 {
            return Ok(());
        }
        let padded = self.data_len.next_multiple_of(4);
        let profile = if self.two_byte {
            TWO_BYTE_PROFILE
        } else {
            ONE_BYTE_PROFILE
        };
        out.u16(profile)?;
        out.u16((padded / 4) as u16)?;

        let start = out.written();
        each(&mut |id, value| {
            let len = u8::try_from(value.len()).unwrap_or(0);
            if self.two_byte {
                out.put(&[id.0, len])?;
            } else if (1..=14).contains(&id.0) && (1..=16).contains(&len) {
                out.u8(id.0 << 4 | (len - 1))?;
            } else {
                return Err(RtpError::InvalidSpec(
                    "extension elements changed while writing",
                ));
            }
            Ok(out.put(value)?)
        })?;
        let used = out.written() - start;
        if used != self.data_len {
            return Err(RtpError::InvalidSpec(
                "extension elements changed while writing",
            ));
        }

        Ok(out.zeros(padded - used)?)
    }
}
