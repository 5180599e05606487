//! The queue of datagrams a session produces while it handles input.
//!
//! The sans-IO session never touches a socket. It writes each outgoing datagram straight into
//! [`TxQueue`]'s packed arena (no per-packet allocation: the arena's capacity is kept between
//! batches), or asks for the datagram it was handed to be sent back out as rewritten in place.
//! The driver then flushes the queue; consecutive datagrams of one size to one destination
//! sit next to each other in the arena, so it can hand them to the kernel as one GSO batch.

use std::net::SocketAddr;

/// The largest datagram the forwarder writes or accepts (an Ethernet MTU with headroom for the
/// header extensions and authentication tag the forwarder may add).
pub const MAX_DATAGRAM: usize = 1600;

/// A stack buffer for one datagram that is built or copied outside the queue (an RTCP
/// compound, a cached packet about to be retransmitted).
pub fn scratch() -> [u8; MAX_DATAGRAM] {
    [0; MAX_DATAGRAM]
}

/// Where an outgoing datagram's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxSource {
    /// `len` bytes at `offset` in the queue's arena.
    Arena {
        /// Start of the datagram in the arena.
        offset: usize,
    },
    /// An input datagram, rewritten in place; `input` is the tag the driver gave it with
    /// [`TxQueue::begin_input`].
    InPlace {
        /// The driver's tag for the input datagram.
        input: usize,
    },
}

/// One datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxEntry {
    /// Where the bytes are.
    pub source: TxSource,
    /// Length of the datagram.
    pub len: usize,
    /// Destination address.
    pub to: SocketAddr,
}

/// Datagrams waiting to be sent, packed into one growable arena.
#[derive(Debug, Default)]
pub struct TxQueue {
    arena: Vec<u8>,
    used: usize,
    entries: Vec<TxEntry>,
    input: usize,
}

impl TxQueue {
    /// An empty queue with room for `bytes` of datagrams before it has to grow.
    pub fn with_capacity(bytes: usize) -> TxQueue {
        TxQueue {
            arena: vec![0; bytes.max(MAX_DATAGRAM)],
            used: 0,
            entries: Vec::with_capacity(64),
            input: 0,
        }
    }

    /// A zeroed-on-first-use buffer of [`MAX_DATAGRAM`] bytes at the end of the arena; write a
    /// datagram into it and call [`TxQueue::commit`], or drop it unused.
    pub fn buffer(&mut self) -> &mut [u8] {
        if self.arena.len() - self.used < MAX_DATAGRAM {
            // Grows only while the working set is still being learnt; the capacity stays.
            let grown = (self.arena.len() * 2).max(self.used + MAX_DATAGRAM);
            self.arena.resize(grown, 0);
        }
        &mut self.arena[self.used..self.used + MAX_DATAGRAM]
    }

    /// Queues the first `len` bytes of the last [`TxQueue::buffer`] for `to`.
    pub fn commit(&mut self, len: usize, to: SocketAddr) {
        let len = len.min(MAX_DATAGRAM);
        self.entries.push(TxEntry {
            source: TxSource::Arena { offset: self.used },
            len,
            to,
        });
        self.used += len;
    }

    /// Tags the input datagram about to be handled, so that an in-place send names it.
    pub fn begin_input(&mut self, tag: usize) {
        self.input = tag;
    }

    /// Queues the datagram being handled, rewritten in place to `len` bytes, for `to`.
    pub fn commit_in_place(&mut self, len: usize, to: SocketAddr) {
        let source = TxSource::InPlace { input: self.input };
        self.entries.push(TxEntry { source, len, to });
    }

    /// Copies `bytes` into the arena and queues them for `to`.
    pub fn push(&mut self, bytes: &[u8], to: SocketAddr) {
        let len = bytes.len().min(MAX_DATAGRAM);
        self.buffer()[..len].copy_from_slice(&bytes[..len]);
        self.commit(len, to);
    }

    /// The queued datagrams in order.
    pub fn entries(&self) -> &[TxEntry] {
        &self.entries
    }

    /// The bytes of an arena datagram.
    pub fn arena_bytes(&self, offset: usize, len: usize) -> &[u8] {
        &self.arena[offset..offset + len]
    }

    /// Number of queued datagrams.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every queued datagram, keeping the arena's capacity.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_packed_back_to_back() {
        let to: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut q = TxQueue::with_capacity(4096);
        q.push(&[1; 100], to);
        q.push(&[2; 100], to);
        q.begin_input(7);
        q.commit_in_place(42, to);
        assert_eq!(q.entries()[0].source, TxSource::Arena { offset: 0 });
        assert_eq!(q.entries()[1].source, TxSource::Arena { offset: 100 });
        assert_eq!(q.entries()[2].source, TxSource::InPlace { input: 7 });
        assert_eq!(q.arena_bytes(100, 100), &[2; 100][..]);
        q.clear();
        assert!(q.is_empty());
    }

    #[test]
    fn arena_grows_when_a_batch_outgrows_it() {
        let to: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut q = TxQueue::with_capacity(0);
        for i in 0..10u8 {
            q.push(&[i; 1500], to);
        }
        assert_eq!(q.len(), 10);
        assert_eq!(q.arena_bytes(9 * 1500, 1500), &[9; 1500][..]);
    }
}
