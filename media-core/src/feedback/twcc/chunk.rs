//! Packet status chunks of a transport-cc feedback message
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01, sections 3.1.1 to 3.1.4).
//!
//! A run length chunk says that a run of packets share one status:
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |T| S |       Run Length        |   T = 0
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! A status vector chunk lists 14 one-bit symbols (S = 0: not received or small delta) or
//! 7 two-bit symbols (S = 1: the full status):
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |T|S|       symbol list         |   T = 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// The status of one packet: whether it arrived, and how wide its receive delta is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Symbol {
    /// Not received (no delta).
    NotReceived = 0,
    /// Received with a delta of 0..=255 ticks (one byte).
    SmallDelta = 1,
    /// Received with a negative or larger delta (two bytes, signed).
    LargeDelta = 2,
}

impl Symbol {
    /// The number of receive delta bytes this status takes.
    pub(crate) fn delta_len(self) -> usize {
        self as usize
    }
}

/// The longest run a run length chunk holds (13 bits).
const MAX_RUN: u16 = 0x1FFF;
/// Symbols in a one-bit status vector chunk.
const ONE_BIT_CAPACITY: usize = 14;
/// Symbols in a two-bit status vector chunk.
const TWO_BIT_CAPACITY: usize = 7;

/// Collects statuses and packs them into as few chunks as it can, one chunk at a time.
///
/// Statuses accumulate until the next one cannot join them in a single chunk; then
/// [`ChunkBuilder::emit`] yields a chunk for some of them and keeps the rest.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChunkBuilder {
    /// The first statuses held (all of them while there are at most 14).
    symbols: [Symbol; ONE_BIT_CAPACITY],
    len: u16,
    all_same: bool,
    has_large: bool,
}

impl ChunkBuilder {
    pub(crate) fn new() -> ChunkBuilder {
        ChunkBuilder {
            symbols: [Symbol::NotReceived; ONE_BIT_CAPACITY],
            len: 0,
            all_same: true,
            has_large: false,
        }
    }

    /// Whether `symbol` can join the held statuses without emitting a chunk first.
    pub(crate) fn can_add(&self, symbol: Symbol) -> bool {
        let len = usize::from(self.len);
        if len < TWO_BIT_CAPACITY {
            return true;
        }
        if len < ONE_BIT_CAPACITY && !self.has_large && symbol != Symbol::LargeDelta {
            return true;
        }
        self.all_same && self.symbols[0] == symbol && self.len < MAX_RUN
    }

    /// Adds a status; call [`ChunkBuilder::emit`] first when `can_add` says no.
    pub(crate) fn add(&mut self, symbol: Symbol) {
        if let Some(slot) = self.symbols.get_mut(usize::from(self.len)) {
            *slot = symbol;
        }
        if self.len > 0 && self.symbols[0] != symbol {
            self.all_same = false;
        }
        self.has_large |= symbol == Symbol::LargeDelta;
        self.len += 1;
    }

    /// Packs some held statuses into a chunk, keeping the ones that did not fit.
    pub(crate) fn emit(&mut self) -> u16 {
        let len = usize::from(self.len);
        if self.all_same {
            let chunk = run_length(self.symbols[0], self.len);
            *self = ChunkBuilder::new();
            return chunk;
        }
        if len == ONE_BIT_CAPACITY {
            let chunk = one_bit(&self.symbols);
            *self = ChunkBuilder::new();
            return chunk;
        }
        let chunk = two_bit(&self.symbols[..TWO_BIT_CAPACITY]);
        let rest = self.symbols;
        *self = ChunkBuilder::new();
        for &symbol in rest.get(TWO_BIT_CAPACITY..len).unwrap_or_default() {
            self.add(symbol);
        }
        chunk
    }

    /// Packs all held statuses into the final chunk, or `None` when none are held.
    pub(crate) fn finish(&self) -> Option<u16> {
        let len = usize::from(self.len);
        if len == 0 {
            None
        } else if self.all_same {
            Some(run_length(self.symbols[0], self.len))
        } else if len <= TWO_BIT_CAPACITY {
            Some(two_bit(self.symbols.get(..len)?))
        } else {
            Some(one_bit(self.symbols.get(..len)?))
        }
    }
}

fn run_length(symbol: Symbol, len: u16) -> u16 {
    ((symbol as u16) << 13) | (len & MAX_RUN)
}

fn one_bit(symbols: &[Symbol]) -> u16 {
    symbols
        .iter()
        .enumerate()
        .fold(0x8000, |chunk, (i, &symbol)| {
            chunk | (u16::from(symbol != Symbol::NotReceived) << (13 - i))
        })
}

fn two_bit(symbols: &[Symbol]) -> u16 {
    symbols
        .iter()
        .enumerate()
        .fold(0xC000, |chunk, (i, &symbol)| {
            chunk | ((symbol as u16) << (12 - 2 * i))
        })
}

/// The number of statuses a chunk carries.
pub(crate) fn chunk_len(chunk: u16) -> usize {
    if chunk & 0x8000 == 0 {
        usize::from(chunk & MAX_RUN)
    } else if chunk & 0x4000 == 0 {
        ONE_BIT_CAPACITY
    } else {
        TWO_BIT_CAPACITY
    }
}

/// The raw two-bit status at `index` (below [`chunk_len`]) of a chunk; 3 is reserved.
pub(crate) fn chunk_symbol(chunk: u16, index: usize) -> u16 {
    if chunk & 0x8000 == 0 {
        (chunk >> 13) & 0b11
    } else if chunk & 0x4000 == 0 {
        (chunk >> (13 - index % ONE_BIT_CAPACITY)) & 0b1
    } else {
        (chunk >> (12 - 2 * (index % TWO_BIT_CAPACITY))) & 0b11
    }
}
