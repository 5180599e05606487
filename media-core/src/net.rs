//! The UDP socket layer of a worker: batched receive (recvmmsg, GRO) and send (GSO).
//!
//! Built on `quinn-udp`, which does the `sendmsg`/`recvmmsg` control-message work; this module
//! owns the receive buffers and turns a [`TxQueue`] into as few send calls as it can: runs of
//! equal-sized datagrams to one destination that sit back to back in the queue's arena go out
//! as one GSO send.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};

use crate::output::{TxEntry, TxQueue, TxSource, MAX_DATAGRAM};

/// Datagrams taken from the kernel per receive call.
pub const RECV_BATCH: usize = 32;

/// Room after each received datagram for an in-place rewrite to grow it (header extensions
/// the subscriber needs plus the authentication tag).
pub const HEADROOM: usize = 64;

/// A non-blocking UDP socket registered with a worker's poll.
pub struct UdpEndpoint {
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    local: SocketAddr,
}

/// Receive buffers for one batch, allocated once per worker.
pub struct RecvBatch {
    buffers: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    count: usize,
}

/// One datagram of a received batch: buffer index, start and length within it, and how far
/// the datagram may grow in place.
#[derive(Debug, Clone, Copy)]
pub struct Datagram {
    /// Sender's address.
    pub from: SocketAddr,
    /// Index of the buffer in the batch.
    pub buffer: usize,
    /// Start of the datagram in that buffer.
    pub start: usize,
    /// Length of the datagram.
    pub len: usize,
    /// End of the room the datagram may use (its own length plus headroom when it is the
    /// last datagram of the buffer).
    pub room_end: usize,
}

impl RecvBatch {
    /// Buffers for [`RECV_BATCH`] receive slots, each large enough for `gro_segments`
    /// coalesced datagrams plus headroom.
    pub fn new(gro_segments: usize) -> RecvBatch {
        let size = gro_segments.max(1) * MAX_DATAGRAM + HEADROOM;
        RecvBatch {
            buffers: (0..RECV_BATCH).map(|_| vec![0; size]).collect(),
            meta: vec![RecvMeta::default(); RECV_BATCH],
            count: 0,
        }
    }

    /// The datagrams of the last receive, GRO segments split out.
    pub fn datagrams(&self) -> impl Iterator<Item = Datagram> + '_ {
        self.meta[..self.count]
            .iter()
            .enumerate()
            .flat_map(|(buffer, meta)| {
                let stride = if meta.stride == 0 {
                    meta.len.max(1)
                } else {
                    meta.stride
                };
                let segments = meta.len.div_ceil(stride);
                (0..segments).map(move |i| {
                    let start = i * stride;
                    let len = stride.min(meta.len - start);
                    let last = i + 1 == segments;
                    let room_end = if last {
                        start + len + HEADROOM
                    } else {
                        start + len
                    };
                    Datagram {
                        from: meta.addr,
                        buffer,
                        start,
                        len,
                        room_end,
                    }
                })
            })
    }

    /// The bytes (and room) of one datagram, mutable for in-place processing.
    pub fn bytes_mut(&mut self, d: &Datagram) -> &mut [u8] {
        let buffer = &mut self.buffers[d.buffer];
        let end = d.room_end.min(buffer.len());
        &mut buffer[d.start..end]
    }

    /// The bytes of one datagram after in-place processing left `len` bytes.
    pub fn bytes(&self, d: &Datagram, len: usize) -> &[u8] {
        let buffer = &self.buffers[d.buffer];
        let end = (d.start + len).min(buffer.len());
        &buffer[d.start..end]
    }
}

impl UdpEndpoint {
    /// Wraps a bound std socket: non-blocking, quinn-udp state (GRO/GSO probing) set up.
    pub fn new(socket: std::net::UdpSocket) -> io::Result<UdpEndpoint> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let socket = mio::net::UdpSocket::from_std(socket);
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        // Room for bursts of keyframes to many subscribers; failures leave the default.
        let _ = state.set_recv_buffer_size(UdpSockRef::from(&socket), 4 << 20);
        let _ = state.set_send_buffer_size(UdpSockRef::from(&socket), 4 << 20);
        Ok(UdpEndpoint {
            socket,
            state,
            local,
        })
    }

    /// The socket for registration with a poll.
    pub fn source(&mut self) -> &mut mio::net::UdpSocket {
        &mut self.socket
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// How many datagrams the kernel may coalesce into one receive buffer.
    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Receives one batch; `Ok(0)` when nothing is waiting.
    pub fn recv(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        let mut slices: [IoSliceMut<'_>; RECV_BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(&mut []));
        for (slice, buffer) in slices.iter_mut().zip(batch.buffers.iter_mut()) {
            let usable = buffer.len() - HEADROOM;
            *slice = IoSliceMut::new(&mut buffer[..usable]);
        }
        batch.count = 0;
        match self
            .state
            .recv(UdpSockRef::from(&self.socket), &mut slices, &mut batch.meta)
        {
            Ok(n) => {
                batch.count = n;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Sends every queued datagram; `in_place` resolves the bytes of in-place entries.
    /// Returns how many datagrams the kernel refused (they are dropped, as UDP may).
    pub fn send_queue<'a>(
        &self,
        tx: &'a TxQueue,
        in_place: impl Fn(usize, usize) -> &'a [u8],
    ) -> usize {
        let entries = tx.entries();
        let max_segments = self.state.max_gso_segments().max(1);
        let mut dropped = 0;
        let mut i = 0;
        while i < entries.len() {
            let entry = entries[i];
            let (contents, segment, used) = match entry.source {
                TxSource::InPlace { input } => (in_place(input, entry.len), None, 1),
                TxSource::Arena { offset } => {
                    let run = gso_run(&entries[i..], max_segments);
                    let total: usize = entries[i..i + run].iter().map(|e| e.len).sum();
                    let segment = (run > 1).then_some(entry.len);
                    (tx.arena_bytes(offset, total), segment, run)
                }
            };
            let transmit = Transmit {
                destination: entry.to,
                ecn: None,
                contents,
                segment_size: segment,
                src_ip: None,
            };
            if let Err(e) = self
                .state
                .try_send(UdpSockRef::from(&self.socket), &transmit)
            {
                dropped += used;
                tracing::trace!(target: "net", error = %e, "send failed");
            }
            i += used;
        }
        dropped
    }
}

/// How many entries from the start of `entries` form one GSO send: arena datagrams to one
/// destination, back to back, all of the first one's size except possibly the last.
fn gso_run(entries: &[TxEntry], max_segments: usize) -> usize {
    let Some(first) = entries.first() else {
        return 0;
    };
    let TxSource::Arena { offset } = first.source else {
        return 1;
    };
    let mut next_offset = offset + first.len;
    let mut total = first.len;
    let mut run = 1;
    for e in &entries[1..] {
        let contiguous = e.source
            == TxSource::Arena {
                offset: next_offset,
            };
        let fits = e.len <= first.len && total + e.len <= 64_000;
        if !contiguous || e.to != first.to || !fits || run == max_segments {
            break;
        }
        run += 1;
        total += e.len;
        next_offset += e.len;
        if e.len < first.len {
            break; // only the last segment may be shorter
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arena(offset: usize, len: usize, port: u16) -> TxEntry {
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        TxEntry {
            source: TxSource::Arena { offset },
            len,
            to,
        }
    }

    #[test]
    fn gso_runs_need_one_destination_one_size_and_contiguity() {
        let e = [
            arena(0, 100, 1),
            arena(100, 100, 1),
            arena(200, 60, 1),
            arena(260, 100, 1),
        ];
        assert_eq!(gso_run(&e, 64), 3, "a shorter datagram ends the run");
        let e = [arena(0, 100, 1), arena(100, 100, 2)];
        assert_eq!(gso_run(&e, 64), 1, "another destination ends the run");
        let e = [arena(0, 100, 1), arena(100, 120, 1)];
        assert_eq!(gso_run(&e, 64), 1, "a longer datagram ends the run");
        let e = [arena(0, 100, 1), arena(100, 100, 1), arena(200, 100, 1)];
        assert_eq!(gso_run(&e, 2), 2, "the kernel's segment limit ends the run");
    }

    #[test]
    fn batched_send_and_receive_over_loopback() {
        let a = UdpEndpoint::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let b = UdpEndpoint::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let mut tx = TxQueue::with_capacity(1 << 16);
        for i in 0..10u8 {
            tx.push(&[i; 1000], b.local_addr());
        }
        tx.push(&[99; 10], b.local_addr());
        assert_eq!(a.send_queue(&tx, |_, _| &[]), 0);
        let mut batch = RecvBatch::new(b.gro_segments());
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while got.len() < 11 && std::time::Instant::now() < deadline {
            if b.recv(&mut batch).unwrap() == 0 {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            }
            let datagrams: Vec<Datagram> = batch.datagrams().collect();
            for d in datagrams {
                got.push(batch.bytes(&d, d.len).to_vec());
            }
        }
        assert_eq!(got.len(), 11);
        for (i, g) in got.iter().take(10).enumerate() {
            assert_eq!(g, &vec![i as u8; 1000]);
        }
        assert_eq!(got[10], vec![99; 10]);
    }
}
