use super::Clock;
use crate::feedback::KeyframeRequestLimiter;

#[test]
fn ordinary_requests_go_out_at_most_every_500_ms() {
    let clock = Clock::new();
    let mut limiter = KeyframeRequestLimiter::default();
    assert!(limiter.should_send(clock.ms(0)));
    assert!(!limiter.should_send(clock.ms(100)));
    assert!(!limiter.should_send(clock.ms(499)));
    assert!(limiter.should_send(clock.ms(500)));
    assert!(!limiter.should_send(clock.ms(999)));
    assert!(limiter.should_send(clock.ms(1000)));
    assert_eq!(limiter.fir_seq(), 3);
    assert_eq!(limiter.next_deadline(), None);
}

#[test]
fn a_forced_request_respects_only_the_100_ms_minimum() {
    let clock = Clock::new();
    let mut limiter = KeyframeRequestLimiter::default();
    assert!(limiter.force(clock.ms(0)), "nothing sent yet");
    assert!(!limiter.should_send(clock.ms(0)));
    assert!(limiter.force(clock.ms(150)));
    assert!(
        !limiter.should_send(clock.ms(400)),
        "ordinary spacing still counts from 150"
    );
    assert!(limiter.should_send(clock.ms(650)));
}

#[test]
fn a_held_back_forced_request_stays_pending() {
    let clock = Clock::new();
    let mut limiter = KeyframeRequestLimiter::default();
    assert!(limiter.should_send(clock.ms(0)));
    assert!(!limiter.force(clock.ms(40)));
    assert!(!limiter.force(clock.ms(60)));
    assert_eq!(limiter.next_deadline(), Some(clock.ms(100)));
    assert!(!limiter.poll_pending(clock.ms(99)));
    assert!(limiter.poll_pending(clock.ms(100)));
    assert!(!limiter.poll_pending(clock.ms(300)), "released once");
    assert_eq!(limiter.next_deadline(), None);
}

#[test]
fn a_pending_forced_request_lets_an_ordinary_one_through_early() {
    let clock = Clock::new();
    let mut limiter = KeyframeRequestLimiter::default();
    assert!(limiter.should_send(clock.ms(0)));
    assert!(!limiter.force(clock.ms(10)));
    assert!(limiter.should_send(clock.ms(120)));
    assert!(!limiter.poll_pending(clock.ms(300)));
}

#[test]
fn a_keyframe_satisfies_a_pending_forced_request() {
    let clock = Clock::new();
    let mut limiter = KeyframeRequestLimiter::default();
    assert!(limiter.should_send(clock.ms(0)));
    assert!(!limiter.force(clock.ms(30)));
    limiter.on_keyframe(clock.ms(20));
    assert!(
        limiter.next_deadline().is_some(),
        "a keyframe from before the request does not count"
    );
    limiter.on_keyframe(clock.ms(70));
    assert_eq!(limiter.next_deadline(), None);
    assert!(!limiter.poll_pending(clock.ms(200)));
}
