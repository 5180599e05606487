//! Proves that the session's packet path makes no heap allocation in steady state: a
//! counting global allocator wraps the system one, and after a publisher and its subscribers
//! are connected and warmed up on the simulated network, forwarding thousands of SRTP
//! packets through `Session::handle_datagram` to one and to two subscribers counts nothing.
//!
//! Only `handle_datagram` itself is counted, on the measuring thread; building the packets
//! and running the session's timers in between are not. Allocations inside aws-lc's C code
//! go to `malloc` directly and are not seen here.

#![allow(clippy::unwrap_used)]

mod alloc_counter;

mod sim;

use std::time::Duration;

use alloc_counter::{allocations_during, CountingAllocator};
use media_core::output::{TxQueue, MAX_DATAGRAM};

use sim::client::{AUDIO, VIDEO};
use sim::Sim;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Packets forwarded while counting.
const MEASURED: usize = 2000;

/// Connects a publisher and `subscribers` subscribers, warms the path up on the simulated
/// network, then forwards [`MEASURED`] audio and video packets straight through
/// `handle_datagram` and returns the allocations it made.
fn allocations_forwarding_to(subscribers: usize) -> usize {
    let mut sim = Sim::new(40 + subscribers as u64);
    let publisher = sim.join("publisher", true);
    for n in 0..subscribers {
        sim.join(&format!("subscriber {n}"), false);
    }
    for _ in 0..300 {
        sim.send_rtp(publisher, AUDIO);
        sim.send_rtp(publisher, VIDEO);
        sim.run_for(Duration::from_millis(10));
    }
    sim.run_for(Duration::from_millis(100));
    for ci in 1..=subscribers {
        assert_eq!(
            sim.clients[ci].received.len(),
            600,
            "the warm-up reached everyone"
        );
    }

    let from = sim.clients[publisher].addr;
    let packets: Vec<Vec<u8>> = (0..MEASURED)
        .map(|n| sim.clients[publisher].send_rtp([AUDIO, VIDEO][n % 2]).1)
        .collect();
    sim.clients[publisher].take_outbox();
    let mut buf = vec![0u8; 2 * MAX_DATAGRAM];
    let mut tx = TxQueue::with_capacity(64 * 1024);
    let mut total = 0;
    for packet in &packets {
        sim.now += Duration::from_millis(1);
        if sim.session.poll_timeout().is_some_and(|at| at <= sim.now) {
            sim.session.handle_timeout(sim.now, &mut tx);
        }
        tx.clear();
        buf[..packet.len()].copy_from_slice(packet);
        let (session, now) = (&mut sim.session, sim.now);
        total += allocations_during(|| {
            session.handle_datagram(from, &mut buf, packet.len(), now, &mut tx);
        });
        assert_eq!(tx.len(), subscribers, "one copy per subscriber");
    }
    total
}

#[test]
fn forwarding_to_one_subscriber_makes_no_allocation() {
    assert_eq!(allocations_forwarding_to(1), 0);
}

#[test]
fn forwarding_to_two_subscribers_makes_no_allocation() {
    assert_eq!(allocations_forwarding_to(2), 0);
}

/// The counter itself works, so a zero above means something.
#[test]
fn the_counting_allocator_sees_allocations() {
    let allocations = allocations_during(|| {
        let boxed = std::hint::black_box(Box::new([0u8; 64]));
        drop(boxed);
    });

    assert_eq!(allocations, 1);
}
