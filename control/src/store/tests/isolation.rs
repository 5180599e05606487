//! One tenant's handle neither sees nor changes another tenant's rows.

use super::{now, tenant, HASH};
use crate::auth::token::TokenHash;
use crate::auth::totp::{TotpSecret, TotpStep};
use crate::store::{
    NewSupportSession, Role, SessionFilter, SessionState, Store, StoreError, UserId,
};

/// Asserts that `result` is NotFound for `what`.
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound { what: found }) if found == what => {}
        other => panic!("expected {what} not found, got {other:?}"),
    }
}

fn new_session(agent: UserId, pin: &str) -> NewSupportSession {
    NewSupportSession {
        agent,
        customer_name: Some("Carol".into()),
        external_ref: Some("T-1".into()),
        pin_hash: TokenHash::of(pin),
        join_token_hash: TokenHash::of(&format!("join-{pin}")),
        key_expires_at: now() + 600,
    }
}

#[tokio::test]
async fn users_of_another_tenant_are_invisible_and_unchangeable() {
    let (stores, _dir) = super::both_stores().await;
    for (kind, store) in stores {
        let (_acme, acme_admin) = tenant(&store, "acme").await;
        let (globex, _) = tenant(&store, "globex").await;
        let through_globex = store.tenant(globex).users();

        assert_not_found(through_globex.get(acme_admin).await, "user");
        let listed = through_globex.list().await.unwrap();
        assert!(listed.iter().all(|u| u.id != acme_admin), "{kind}");
        assert_not_found(
            through_globex.set_password(acme_admin, "stolen").await,
            "user",
        );
        assert_not_found(through_globex.set_disabled(acme_admin, true).await, "user");
        assert_not_found(
            through_globex
                .set_totp(acme_admin, &TotpSecret::generate(), &[])
                .await,
            "user",
        );
        assert_not_found(
            through_globex
                .record_totp_step(acme_admin, TotpStep(1))
                .await,
            "user",
        );
        assert_not_found(through_globex.clear_totp(acme_admin).await, "user");
        assert_not_found(
            through_globex.redeem_recovery_code(acme_admin, "x").await,
            "user",
        );
        let token = TokenHash::of("forged");
        assert_not_found(
            store
                .tenant(globex)
                .tokens()
                .insert(&token, acme_admin, now() + 60)
                .await,
            "user",
        );
        assert_eq!(
            store
                .tenant(globex)
                .tokens()
                .revoke_all_for_user(acme_admin)
                .await
                .unwrap(),
            0
        );

        let login = store
            .find_user_for_login("admin@acme.example")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(login.password_hash, HASH, "{kind}: unchanged");
        assert!(
            !login.disabled && login.totp_secret.is_none(),
            "{kind}: unchanged"
        );
        assert!(store.find_token(&token, now()).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn sessions_of_another_tenant_are_invisible_and_unchangeable() {
    let (stores, _dir) = super::both_stores().await;
    for (kind, store) in stores {
        let (acme, acme_admin) = tenant(&store, "acme").await;
        let (globex, globex_admin) = tenant(&store, "globex").await;
        let session = store
            .tenant(acme)
            .sessions()
            .create(&new_session(acme_admin, "111111"))
            .await
            .unwrap();
        let through_globex = store.tenant(globex).sessions();

        assert_not_found(through_globex.get(session).await, "session");
        assert!(through_globex
            .list(&SessionFilter::default())
            .await
            .unwrap()
            .is_empty());
        let by_agent = SessionFilter {
            agent: Some(acme_admin),
            ..SessionFilter::default()
        };
        assert!(
            through_globex.list(&by_agent).await.unwrap().is_empty(),
            "{kind}"
        );
        assert_not_found(through_globex.mark_joined(session, now()).await, "session");
        assert_not_found(
            through_globex.set_state(session, SessionState::Held).await,
            "session",
        );
        assert_not_found(through_globex.end(session, "hijack").await, "session");
        assert_not_found(
            through_globex
                .create(&new_session(acme_admin, "222222"))
                .await,
            "user",
        );
        let acme_cannot_use_globex_agent = store
            .tenant(acme)
            .sessions()
            .create(&new_session(globex_admin, "333333"))
            .await;
        assert_not_found(acme_cannot_use_globex_agent, "user");

        let row = store.tenant(acme).sessions().get(session).await.unwrap();
        assert_eq!(row.state, SessionState::Waiting, "{kind}: unchanged");
        assert_eq!(
            (row.joined_at, row.ended_at),
            (None, None),
            "{kind}: unchanged"
        );
        assert_eq!(
            store
                .tenant(acme)
                .sessions()
                .list(&SessionFilter::default())
                .await
                .unwrap()
                .len(),
            1,
            "{kind}: the refused creations left nothing"
        );
    }
}

#[tokio::test]
async fn a_scope_for_a_tenant_that_does_not_exist_finds_nothing() {
    let store = Store::open_in_memory().await.unwrap();
    tenant(&store, "acme").await;
    let ghost = store.tenant(crate::store::TenantId::random());

    assert!(ghost.users().list().await.unwrap().is_empty());
    assert_not_found(ghost.get().await, "tenant");
    assert_not_found(
        ghost
            .users()
            .create("x@example.com", Role::Agent, HASH)
            .await,
        "tenant",
    );
    assert_not_found(
        ghost
            .set_settings(&crate::store::TenantSettings::default())
            .await,
        "tenant",
    );
}
