//! The accounts API over real HTTPS: sign-in with its lockout, throttle and second factor,
//! the caller's own account, agents and tenant settings.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{cheap_params, TestDaemon, PASSWORD};
use hyper::header::HeaderMap;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use sightline_control::api::ApiConfig;
use sightline_control::auth::lockout::{LockoutPolicy, ThrottlePolicy};
use sightline_control::auth::password::{hash_password, needs_rehash, verify_password, Params};
use sightline_control::store::{Role, TenantId, UserId};

const STRONG: &str = "Quiet-Orchard-Violin-73";

// ---- an independent RFC 6238 computation (SHA-1, HMAC, base32), for the test only ----

/// SHA-1 (RFC 3174).
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());

    for block in message.chunks(64) {
        let mut w: Vec<u32> = block
            .chunks(4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
            .collect();
        for i in 16..80 {
            w.push((w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1));
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (slot, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *slot = slot.wrapping_add(add);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// HMAC-SHA-1 (RFC 2104) with a key of at most 64 bytes.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut padded = [0u8; 64];
    padded[..key.len()].copy_from_slice(key);
    let mut inner: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
    inner.extend_from_slice(message);
    let mut outer: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

/// The 6-digit TOTP code of `secret` at Unix time `unix` (RFC 6238, 30 s steps).
fn totp_code(secret: &[u8], unix: i64) -> String {
    let counter = (unix / 30) as u64;
    let mac = hmac_sha1(secret, &counter.to_be_bytes());
    let offset = usize::from(mac[19] & 0x0f);
    let binary = u32::from_be_bytes(mac[offset..offset + 4].try_into().unwrap()) & 0x7fff_ffff;
    format!("{:06}", binary % 1_000_000)
}

/// Decodes unpadded RFC 4648 base32.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.trim_end_matches('=').bytes() {
        let digit = ALPHABET.iter().position(|&a| a == c).unwrap() as u64;
        value = (value << 5) | digit;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
        }
    }
    out
}

#[test]
fn independent_totp_matches_rfc6238_appendix_b() {
    let seed = b"12345678901234567890";
    assert_eq!(totp_code(seed, 59), "287082");
    assert_eq!(totp_code(seed, 1_111_111_109), "081804");
    assert_eq!(totp_code(seed, 2_000_000_000), "279037");
    assert_eq!(base32_decode("GEZDGNBV"), b"12345");
}

// ---- helpers ----

async fn login(daemon: &TestDaemon, email: &str, password: &str) -> common::Reply {
    let body = json!({"email": email, "password": password});
    daemon
        .call(Method::POST, "/v1/auth/login", None, body)
        .await
}

async fn login_totp(daemon: &TestDaemon, email: &str, code: &str) -> common::Reply {
    let body = json!({"email": email, "password": PASSWORD, "totp": code});
    daemon
        .call(Method::POST, "/v1/auth/login", None, body)
        .await
}

/// Signs in with [`PASSWORD`] and returns the token.
async fn token(daemon: &TestDaemon, email: &str) -> String {
    let reply = login(daemon, email, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    reply.json["token"].as_str().unwrap().to_owned()
}

async fn get(daemon: &TestDaemon, path: &str, token: &str) -> common::Reply {
    daemon
        .call(Method::GET, path, Some(token), Value::Null)
        .await
}

async fn post(daemon: &TestDaemon, path: &str, token: &str, body: Value) -> common::Reply {
    daemon.call(Method::POST, path, Some(token), body).await
}

async fn patch(daemon: &TestDaemon, path: &str, token: &str, body: Value) -> common::Reply {
    daemon.call(Method::PATCH, path, Some(token), body).await
}

/// A daemon with tenant "Acme", admin `admin@acme.example` and agent `agent@acme.example`.
async fn acme(daemon: &TestDaemon) -> (TenantId, UserId, UserId) {
    let (tenant, admin) = daemon.tenant("Acme", "admin@acme.example").await;
    let agent = daemon.user(tenant, "agent@acme.example", Role::Agent).await;
    (tenant, admin, agent)
}

/// Enrols an authenticator for the holder of `token`; returns the secret and the codes.
async fn enrol(daemon: &TestDaemon, token: &str) -> (Vec<u8>, Vec<String>) {
    let enrolled = post(daemon, "/v1/auth/totp/enrol", token, Value::Null).await;
    assert_eq!(enrolled.status, StatusCode::OK, "{:?}", enrolled.json);
    let secret = base32_decode(enrolled.json["secret"].as_str().unwrap());
    let uri = enrolled.json["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");

    let code = totp_code(&secret, daemon.clock.unix_now());
    let confirmed = post(
        daemon,
        "/v1/auth/totp/confirm",
        token,
        json!({"code": code}),
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.json);
    let codes = confirmed.json["recovery_codes"].as_array().unwrap();
    let codes = codes
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

fn metric(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

// ---- sign-in ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_answers_the_contract_fields() {
    let daemon = TestDaemon::start().await;
    let (tenant, admin, _) = acme(&daemon).await;

    let reply = login(&daemon, " Admin@Acme.example ", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    assert_eq!(reply.json["role"], "admin");
    assert_eq!(reply.json["user_id"], admin.to_string());
    assert_eq!(reply.json["tenant_id"], tenant.to_string());
    assert_eq!(reply.json["totp_enrolment_required"], false);
    let expires = reply.json["expires_at"].as_str().unwrap();
    assert!(expires.len() == 20 && expires.ends_with('Z'), "{expires}");

    let token = reply.json["token"].as_str().unwrap();
    let me = get(&daemon, "/v1/me", token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.json["email"], "admin@acme.example");
    assert_eq!(me.json["role"], "admin");
    assert_eq!(me.json["totp_enabled"], false);
    assert_eq!(me.json["user_id"], admin.to_string());
    assert_eq!(metric(&daemon.app.metrics.logins_succeeded), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_email_look_the_same() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;

    let wrong = login(&daemon, "admin@acme.example", "Not-The-Password-1").await;
    let unknown = login(&daemon, "nobody@acme.example", "Not-The-Password-1").await;
    let not_email = login(&daemon, "no email at all", "Not-The-Password-1").await;
    for reply in [&wrong, &unknown, &not_email] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.error(), "invalid_credentials");
        assert_eq!(reply.body, wrong.body);
        assert!(!String::from_utf8_lossy(&reply.body).contains("Not-The-Password"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_user_and_ended_tenant_cannot_sign_in() {
    let daemon = TestDaemon::start().await;
    let (tenant, _, agent) = acme(&daemon).await;
    let users = daemon.app.store.tenant(tenant).users();

    users.set_disabled(agent, true).await.unwrap();
    let reply = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "invalid_credentials");

    daemon.app.store.terminate_tenant("Acme").await.unwrap();
    daemon.clock.skip_ahead(Duration::from_secs(2));
    let reply = login(&daemon, "admin@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "invalid_credentials");
}

/// Five failures lock `email`: the sixth attempt, even with the right password, is 423.
async fn lock(daemon: &TestDaemon, email: &str) {
    for _ in 0..5 {
        let reply = login(daemon, email, "Wrong-Password-99").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = login(daemon, email, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::LOCKED, "{:?}", reply.json);
    assert_eq!(reply.error(), "locked");
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((290..=300).contains(&retry), "{retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_failures_lock_known_and_unknown_emails_for_five_minutes() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;

    lock(&daemon, "admin@acme.example").await;
    lock(&daemon, "ghost@acme.example").await;
    assert_eq!(metric(&daemon.app.metrics.lockouts), 2);
    assert_eq!(metric(&daemon.app.metrics.logins_failed), 10);
    // The unknown email's 423 looks like the known one's.
    let ghost = login(&daemon, "ghost@acme.example", PASSWORD).await;
    assert_eq!(ghost.status, StatusCode::LOCKED);

    daemon.clock.skip_ahead(Duration::from_secs(299));
    let still = login(&daemon, "admin@acme.example", PASSWORD).await;
    assert_eq!(still.status, StatusCode::LOCKED);
    daemon.clock.skip_ahead(Duration::from_secs(2));
    let after = login(&daemon, "admin@acme.example", PASSWORD).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_resets_the_failure_count() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;

    for _ in 0..4 {
        login(&daemon, "agent@acme.example", "Wrong-Password-99").await;
    }
    token(&daemon, "agent@acme.example").await;
    for _ in 0..4 {
        login(&daemon, "agent@acme.example", "Wrong-Password-99").await;
    }
    let reply = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_and_administrator_unlocks_lift_the_lock() {
    let daemon = TestDaemon::start().await;
    let (_, _, agent) = acme(&daemon).await;
    let admin_token = token(&daemon, "admin@acme.example").await;

    lock(&daemon, "agent@acme.example").await;
    daemon
        .app
        .store
        .clear_lock("agent@acme.example")
        .await
        .unwrap();
    let reply = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);

    // The operator's unlock is recorded to the second: a lock that begins later holds.
    daemon.clock.skip_ahead(Duration::from_secs(2));
    lock(&daemon, "agent@acme.example").await;
    let path = format!("/v1/agents/{agent}/unlock");
    let unlocked = post(&daemon, &path, &admin_token, Value::Null).await;
    assert_eq!(unlocked.status, StatusCode::NO_CONTENT);
    let reply = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlock_before_the_lock_does_not_lift_it() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    daemon
        .app
        .store
        .clear_lock("agent@acme.example")
        .await
        .unwrap();
    daemon.clock.skip_ahead(Duration::from_secs(5));

    lock(&daemon, "agent@acme.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_take_as_long_for_unknown_emails() {
    let daemon = TestDaemon::start_with(|config: &mut ApiConfig| {
        config.password_params = Params::default();
        config.lockout = LockoutPolicy {
            max_failures: 1000,
            ..LockoutPolicy::default()
        };
        config.login_throttle = ThrottlePolicy {
            burst: 1000,
            ..ThrottlePolicy::default()
        };
    })
    .await;
    let (tenant, _) = daemon.tenant("Acme", "admin@acme.example").await;
    let hash = hash_password(PASSWORD, &Params::default()).unwrap();
    let users = daemon.app.store.tenant(tenant).users();
    users
        .create("slow@acme.example", Role::Agent, &hash)
        .await
        .unwrap();

    let (mut known, mut unknown) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..10 {
        for (email, total) in [
            ("slow@acme.example", &mut known),
            ("absent@acme.example", &mut unknown),
        ] {
            let started = Instant::now();
            let reply = login(&daemon, email, "Wrong-Password-99").await;
            *total += started.elapsed();
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
    }
    assert!(known < unknown * 3, "known {known:?}, unknown {unknown:?}");
    assert!(unknown < known * 3, "known {known:?}, unknown {unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_source_is_throttled() {
    let daemon = TestDaemon::start_with(|config: &mut ApiConfig| {
        config.login_throttle = ThrottlePolicy {
            burst: 3,
            refill_every: Duration::from_secs(60),
            capacity: 100,
        };
    })
    .await;
    acme(&daemon).await;

    for _ in 0..3 {
        let reply = login(&daemon, "admin@acme.example", PASSWORD).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = login(&daemon, "admin@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error(), "too_many_requests");
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(metric(&daemon.app.metrics.throttled), 1);

    daemon.clock.skip_ahead(Duration::from_secs(61));
    let reply = login(&daemon, "admin@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outdated_hash_is_replaced_after_sign_in() {
    let daemon = TestDaemon::start_with(|config: &mut ApiConfig| {
        config.password_params = Params::new(512, 1, 1).unwrap();
    })
    .await;
    acme(&daemon).await;
    token(&daemon, "agent@acme.example").await;

    let store = &daemon.app.store;
    let login = store.find_user_for_login("agent@acme.example").await;
    let hash = login.unwrap().unwrap().password_hash;
    assert!(
        !needs_rehash(&hash, &Params::new(512, 1, 1).unwrap()),
        "{hash}"
    );
    assert!(needs_rehash(&hash, &cheap_params()));
    assert!(verify_password(PASSWORD, &hash));
}

// ---- second factor ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_enrolment_then_sign_in_with_codes() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;
    let (secret, codes) = enrol(&daemon, &agent).await;
    assert_eq!(codes.len(), 10);
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.json["totp_enabled"],
        true
    );

    let email = "agent@acme.example";
    let missing = login(&daemon, email, PASSWORD).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.error(), "totp_required");
    let wrong_code = if totp_code(&secret, daemon.clock.unix_now()) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let wrong = login_totp(&daemon, email, wrong_code).await;
    assert_eq!(wrong.error(), "invalid_credentials");

    // The step of the confirming code is spent: sign in with the next one.
    daemon.clock.skip_ahead(Duration::from_secs(30));
    let code = totp_code(&secret, daemon.clock.unix_now());
    let ok = login_totp(&daemon, email, &code).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    let replay = login_totp(&daemon, email, &code).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error(), "invalid_credentials");

    let recovery = login_totp(&daemon, email, &codes[0].to_lowercase()).await;
    assert_eq!(recovery.status, StatusCode::OK, "{:?}", recovery.json);
    let again = login_totp(&daemon, email, &codes[0]).await;
    assert_eq!(again.error(), "invalid_credentials");
    assert_eq!(metric(&daemon.app.metrics.logins_failed), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_enrolment_replaces_the_pending_one() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;

    let first = post(&daemon, "/v1/auth/totp/enrol", &agent, Value::Null).await;
    let first = base32_decode(first.json["secret"].as_str().unwrap());
    let second = post(&daemon, "/v1/auth/totp/enrol", &agent, Value::Null).await;
    assert_eq!(second.status, StatusCode::OK);
    let code = totp_code(&first, daemon.clock.unix_now());
    let stale = post(
        &daemon,
        "/v1/auth/totp/confirm",
        &agent,
        json!({"code": code}),
    )
    .await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stale.error(), "invalid_code");
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.json["totp_enabled"],
        false
    );

    let no_pending = TestDaemon::start().await;
    acme(&no_pending).await;
    let other = token(&no_pending, "agent@acme.example").await;
    let reply = post(
        &no_pending,
        "/v1/auth/totp/confirm",
        &other,
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(reply.error(), "no_pending_enrolment");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_renewed_and_totp_disabled() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;
    let (secret, old_codes) = enrol(&daemon, &agent).await;

    let wrong = post(
        &daemon,
        "/v1/auth/recovery-codes",
        &agent,
        json!({"password": "nope"}),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error(), "invalid_credentials");
    let renewed = post(
        &daemon,
        "/v1/auth/recovery-codes",
        &agent,
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(renewed.status, StatusCode::OK);
    let new_code = renewed.json["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let stale = login_totp(&daemon, "agent@acme.example", &old_codes[0]).await;
    assert_eq!(stale.error(), "invalid_credentials");
    let fresh = login_totp(&daemon, "agent@acme.example", &new_code).await;
    assert_eq!(fresh.status, StatusCode::OK);

    daemon.clock.skip_ahead(Duration::from_secs(30));
    let code = totp_code(&secret, daemon.clock.unix_now());
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let body = json!({"password": PASSWORD, "code": wrong_code});
    let refused = post(&daemon, "/v1/auth/totp/disable", &agent, body).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error(), "invalid_credentials");
    let failed = metric(&daemon.app.metrics.logins_failed);
    assert_eq!(
        failed, 3,
        "wrong password, stale recovery code, wrong disable code"
    );
    let body = json!({"password": PASSWORD, "code": code});
    let disabled = post(&daemon, "/v1/auth/totp/disable", &agent, body).await;
    assert_eq!(
        disabled.status,
        StatusCode::NO_CONTENT,
        "{:?}",
        disabled.json
    );
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.json["totp_enabled"],
        false
    );
    token(&daemon, "agent@acme.example").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_requiring_2fa_forces_enrolment() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;
    let (admin_secret, _) = enrol(&daemon, &admin).await;
    let on = json!({"require_2fa": true});
    let reply = patch(&daemon, "/v1/tenant/settings", &admin, on).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["require_2fa"], true);

    let signed_in = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::OK);
    assert_eq!(signed_in.json["totp_enrolment_required"], true);
    let agent = signed_in.json["token"].as_str().unwrap().to_owned();
    let refused = get(&daemon, "/v1/tenant", &agent).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error(), "totp_enrolment_required");
    let me = get(&daemon, "/v1/me", &agent).await;
    assert_eq!(me.json["totp_enrolment_required"], true);

    let (secret, _) = enrol(&daemon, &agent).await;
    assert_eq!(
        get(&daemon, "/v1/tenant", &agent).await.status,
        StatusCode::OK
    );
    daemon.clock.skip_ahead(Duration::from_secs(30));
    let code = totp_code(&secret, daemon.clock.unix_now());
    let body = json!({"password": PASSWORD, "code": code});
    let kept = post(&daemon, "/v1/auth/totp/disable", &agent, body).await;
    assert_eq!(kept.status, StatusCode::FORBIDDEN);
    assert_eq!(kept.error(), "totp_required_by_tenant");
    let code = totp_code(&admin_secret, daemon.clock.unix_now());
    assert_eq!(
        login_totp(&daemon, "admin@acme.example", &code)
            .await
            .status,
        StatusCode::OK
    );
}

// ---- own account ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_token() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;
    let other = token(&daemon, "agent@acme.example").await;

    let reply = post(&daemon, "/v1/auth/logout", &agent, Value::Null).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&daemon, "/v1/me", &other).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_checks_policy_and_revokes_tokens() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let wrong = post(
        &daemon,
        "/v1/auth/password",
        &agent,
        change("Nope-1234", STRONG),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error(), "invalid_credentials");
    let weak = post(
        &daemon,
        "/v1/auth/password",
        &agent,
        change(PASSWORD, "agent.acme1"),
    )
    .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.error(), "weak_password");
    assert_eq!(get(&daemon, "/v1/me", &agent).await.status, StatusCode::OK);

    let done = post(
        &daemon,
        "/v1/auth/password",
        &agent,
        change(PASSWORD, STRONG),
    )
    .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{:?}", done.json);
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    let old = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = login(&daemon, "agent@acme.example", STRONG).await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_current_password_counts_towards_the_lock() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let agent = token(&daemon, "agent@acme.example").await;
    let body = json!({"current_password": "Nope-1234", "new_password": STRONG});
    for _ in 0..5 {
        let reply = post(&daemon, "/v1/auth/password", &agent, body.clone()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
    let reply = login(&daemon, "agent@acme.example", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::LOCKED);
}

// ---- agents ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_agents_need_a_strong_password() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;
    let create = |password: &str| json!({"email": "new@acme.example", "password": password, "role": "agent"});

    let cases = [
        ("Sh0rt", "too short"),
        ("abcdefghijklmnop", "add a digit"),
        ("password1", "too easy to guess"),
        ("new.acme.example7", "too easy to guess"),
    ];
    for (password, reason) in cases {
        let reply = post(&daemon, "/v1/agents", &admin, create(password)).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert_eq!(reply.error(), "weak_password");
        let detail = reply.json["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{password}: {detail}");
    }

    let created = post(&daemon, "/v1/agents", &admin, create(STRONG)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json);
    let location = format!("/v1/agents/{}", created.json["id"].as_str().unwrap());
    assert_eq!(created.header("location"), Some(location.as_str()));
    let fetched = get(&daemon, &location, &admin).await;
    assert_eq!(fetched.status, StatusCode::OK);
    let id = created.json["id"].as_str().unwrap();
    let taken = post(&daemon, "/v1/agents", &admin, create(STRONG)).await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_eq!(taken.error(), "email_taken");

    let listed = get(&daemon, "/v1/agents", &admin).await;
    let agents = listed.json["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    let one = get(&daemon, &format!("/v1/agents/{id}"), &admin).await;
    assert_eq!(one.json["email"], "new@acme.example");
    assert_eq!(one.json["role"], "agent");
    assert_eq!(one.json["disabled"], false);
    assert_eq!(one.json["totp_enabled"], false);
    assert!(one.json["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        login(&daemon, "new@acme.example", STRONG).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_cannot_manage_and_other_tenants_are_invisible() {
    let daemon = TestDaemon::start().await;
    let (_, admin_id, agent_id) = acme(&daemon).await;
    let (_, stranger) = daemon.tenant("Globex", "boss@globex.example").await;
    let admin = token(&daemon, "admin@acme.example").await;
    let agent = token(&daemon, "agent@acme.example").await;

    let body = json!({"email": "x@acme.example", "password": STRONG, "role": "admin"});
    for reply in [
        get(&daemon, "/v1/agents", &agent).await,
        get(&daemon, &format!("/v1/agents/{admin_id}"), &agent).await,
        post(&daemon, "/v1/agents", &agent, body).await,
        patch(
            &daemon,
            &format!("/v1/agents/{agent_id}"),
            &agent,
            json!({"role": "admin"}),
        )
        .await,
        patch(
            &daemon,
            "/v1/tenant/settings",
            &agent,
            json!({"require_2fa": true}),
        )
        .await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.error(), "forbidden");
    }
    let tenant = get(&daemon, "/v1/tenant", &agent).await;
    assert_eq!(tenant.json["name"], "Acme");
    assert_eq!(tenant.json["settings"]["support_key_validity_secs"], 600);

    for path in [
        format!("/v1/agents/{stranger}"),
        "/v1/agents/not-a-uuid".to_owned(),
    ] {
        assert_eq!(
            get(&daemon, &path, &admin).await.status,
            StatusCode::NOT_FOUND
        );
        let reply = patch(&daemon, &path, &admin, json!({"disabled": true})).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let reset = format!("{path}/password");
        let reply = post(&daemon, &reset, &admin, json!({"password": STRONG})).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let reply = post(&daemon, &format!("{path}/unlock"), &admin, Value::Null).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(token(&daemon, "boss@globex.example").await.len(), 43);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_agent_revokes_its_tokens() {
    let daemon = TestDaemon::start().await;
    let (_, admin_id, agent_id) = acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;
    let agent = token(&daemon, "agent@acme.example").await;
    let path = format!("/v1/agents/{agent_id}");

    let reply = patch(&daemon, &path, &admin, json!({"disabled": true})).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json);
    assert_eq!(reply.json["disabled"], true);
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = patch(&daemon, &path, &admin, json!({"disabled": false})).await;
    assert_eq!(reply.json["disabled"], false);
    // Revoked, not merely suspended: enabling again does not bring the token back.
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    token(&daemon, "agent@acme.example").await;

    let own = format!("/v1/agents/{admin_id}");
    for change in [json!({"disabled": true}), json!({"role": "agent"})] {
        let reply = patch(&daemon, &own, &admin, change).await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(reply.error(), "last_admin");
    }
    let promoted = patch(&daemon, &path, &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.json["role"], "admin");
    let agent = token(&daemon, "agent@acme.example").await;
    let demoted = patch(&daemon, &own, &agent, json!({"role": "agent"})).await;
    assert_eq!(demoted.status, StatusCode::OK);
    assert_eq!(
        get(&daemon, "/v1/agents", &admin).await.error(),
        "forbidden"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_resets_a_password() {
    let daemon = TestDaemon::start().await;
    let (_, _, agent_id) = acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;
    let agent = token(&daemon, "agent@acme.example").await;
    let path = format!("/v1/agents/{agent_id}/password");

    let weak = post(&daemon, &path, &admin, json!({"password": "abc"})).await;
    assert_eq!(weak.error(), "weak_password");
    let reply = post(&daemon, &path, &admin, json!({"password": STRONG})).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&daemon, "/v1/me", &agent).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&daemon, "agent@acme.example", STRONG).await.status,
        StatusCode::OK
    );
}

// ---- tenant ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings_are_validated() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;

    for secs in [59, 86_401, 0] {
        let body = json!({"support_key_validity_secs": secs});
        let reply = patch(&daemon, "/v1/tenant/settings", &admin, body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{secs}");
        assert_eq!(reply.error(), "invalid_settings");
    }
    let body = json!({"support_key_validity_secs": 86_400});
    let reply = patch(&daemon, "/v1/tenant/settings", &admin, body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["support_key_validity_secs"], 86_400);
    assert_eq!(reply.json["require_2fa"], false);
    let tenant = get(&daemon, "/v1/tenant", &admin).await;
    assert_eq!(tenant.json["settings"]["support_key_validity_secs"], 86_400);
}

// ---- malformed requests ----

/// Sends `body` with `content_type` and returns the status and error code.
async fn raw(
    daemon: &TestDaemon,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &str,
) -> (StatusCode, String) {
    let reply = daemon
        .send(
            method,
            path,
            token,
            Some(content_type),
            body.as_bytes().to_vec(),
            HeaderMap::new(),
        )
        .await;
    (reply.status, reply.error().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_refused_and_change_nothing() {
    let daemon = TestDaemon::start().await;
    let (tenant, _, agent_id) = acme(&daemon).await;
    let admin = token(&daemon, "admin@acme.example").await;
    let agent = token(&daemon, "agent@acme.example").await;

    let bodies = [
        ("application/json", "{,}", 400, "malformed_json"),
        ("text/plain", "{}", 415, "unsupported_media_type"),
        ("application/json", "\"a string\"", 422, "invalid_body"),
    ];
    let agent_path = format!("/v1/agents/{agent_id}");
    let reset_path = format!("{agent_path}/password");
    let routes: Vec<(Method, &str, &str, Vec<&str>)> = vec![
        (
            Method::POST,
            "/v1/auth/login",
            "",
            vec![
                r#"{"email": "admin@acme.example", "password": 7}"#,
                r#"{"email": "admin@acme.example", "password": "x", "admin": true}"#,
            ],
        ),
        (
            Method::POST,
            "/v1/agents",
            &admin,
            vec![
                r#"{"email": "n@acme.example", "password": "Quiet-Orchard-73", "role": "root"}"#,
                r#"{"email": "n@acme.example", "password": "Q-Orchard-73", "role": "agent", "x": 1}"#,
                r#"{"email": 5, "password": "Quiet-Orchard-Violin-73", "role": "agent"}"#,
            ],
        ),
        (
            Method::PATCH,
            &agent_path,
            &admin,
            vec![
                r#"{"role": "owner"}"#,
                r#"{"disabled": "yes"}"#,
                r#"{"disabled": true, "email": "y@acme.example"}"#,
            ],
        ),
        (
            Method::POST,
            &reset_path,
            &admin,
            vec![r#"{"password": ["a"]}"#, r#"{}"#],
        ),
        (
            Method::PATCH,
            "/v1/tenant/settings",
            &admin,
            vec![
                r#"{"require_2fa": "true"}"#,
                r#"{"support_key_validity_secs": -5}"#,
                r#"{"support_key_validity_secs": 120, "color": "red"}"#,
            ],
        ),
        (
            Method::POST,
            "/v1/auth/password",
            &agent,
            vec![
                r#"{"current_password": "Harbour-Lantern-42", "new_password": 12345678}"#,
                r#"{"current_password": "Harbour-Lantern-42", "new_password": "Q-73", "force": 1}"#,
            ],
        ),
        (
            Method::POST,
            "/v1/auth/totp/confirm",
            &agent,
            vec![r#"{"code": 123456}"#],
        ),
        (
            Method::POST,
            "/v1/auth/totp/disable",
            &agent,
            vec![r#"{"password": "x"}"#],
        ),
        (
            Method::POST,
            "/v1/auth/recovery-codes",
            &agent,
            vec![r#"{"pass": "x"}"#],
        ),
    ];
    for (method, path, token, shapes) in &routes {
        let token = (!token.is_empty()).then_some(*token);
        for (content_type, body, status, error) in bodies {
            let got = raw(&daemon, method.clone(), path, token, content_type, body).await;
            assert_eq!(
                got,
                (StatusCode::from_u16(status).unwrap(), error.to_owned()),
                "{path} {body}"
            );
        }
        for body in shapes {
            let got = raw(
                &daemon,
                method.clone(),
                path,
                token,
                "application/json",
                body,
            )
            .await;
            let expected = (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body".to_owned());
            assert_eq!(got, expected, "{path} {body}");
        }
    }

    // Nothing changed: same users, settings, passwords and tokens.
    let users = daemon
        .app
        .store
        .tenant(tenant)
        .users()
        .list()
        .await
        .unwrap();
    assert_eq!(users.len(), 2);
    assert!(users.iter().all(|u| !u.disabled && !u.totp_enabled));
    assert_eq!(
        users.iter().find(|u| u.id == agent_id).unwrap().role,
        Role::Agent
    );
    let settings = daemon
        .app
        .store
        .tenant(tenant)
        .get()
        .await
        .unwrap()
        .settings;
    assert_eq!(
        (settings.require_2fa, settings.support_key_validity_secs),
        (false, 600)
    );
    assert_eq!(get(&daemon, "/v1/me", &agent).await.status, StatusCode::OK);
    assert_eq!(
        login(&daemon, "agent@acme.example", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(metric(&daemon.app.metrics.logins_failed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_need_a_staff_token() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    for (method, path) in [
        (Method::GET, "/v1/me"),
        (Method::POST, "/v1/auth/logout"),
        (Method::GET, "/v1/agents"),
        (Method::GET, "/v1/tenant"),
        (Method::POST, "/v1/auth/totp/enrol"),
    ] {
        let reply = daemon
            .call(method, path, Some("bogus-token"), Value::Null)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.error(), "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_checked_before_the_body_is_read() {
    let daemon = TestDaemon::start().await;
    acme(&daemon).await;
    for (method, path) in [
        (Method::POST, "/v1/agents"),
        (
            Method::PATCH,
            "/v1/agents/00000000-0000-4000-8000-000000000000",
        ),
        (Method::POST, "/v1/auth/password"),
        (Method::POST, "/v1/auth/totp/confirm"),
        (Method::PATCH, "/v1/tenant/settings"),
    ] {
        // A wrong content type and a broken body: without a token the answer is still 401.
        let (status, error) = raw(&daemon, method, path, None, "text/plain", "{").await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path}"
        );
    }
}
