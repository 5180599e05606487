//! Users, their second factor and tokens; and what a failing write leaves behind.

use super::{now, tenant, HASH};
use crate::auth::token::TokenHash;
use crate::auth::totp::{generate_recovery_codes, TotpSecret, TotpStep};
use crate::store::db::tenant_sql;
use crate::store::{Conflict, Role, Store, StoreError};

#[tokio::test]
async fn create_list_and_change_users() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, _) = tenant(&store, "acme").await;
    let users = store.tenant(acme).users();

    let agent = users
        .create(" Bob@Acme.example", Role::Agent, HASH)
        .await
        .unwrap();
    users.set_password(agent, "new-hash").await.unwrap();
    users.set_disabled(agent, true).await.unwrap();

    let bob = users.get(agent).await.unwrap();
    assert_eq!(
        (bob.email.as_str(), bob.role, bob.disabled),
        ("bob@acme.example", Role::Agent, true)
    );
    let emails: Vec<String> = users
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(emails, ["admin@acme.example", "bob@acme.example"]);
    let login = store
        .find_user_for_login("bob@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.password_hash, "new-hash");
    assert!(login.disabled);
    assert!(matches!(
        users.create("BOB@acme.example", Role::Admin, HASH).await,
        Err(StoreError::Conflict(Conflict::Email))
    ));
}

#[tokio::test]
async fn totp_enrolment_steps_and_recovery_codes() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let users = store.tenant(acme).users();
    let secret = TotpSecret::generate();
    let (codes, hashes) = generate_recovery_codes();

    users.set_totp(admin, &secret, &hashes).await.unwrap();
    users.record_totp_step(admin, TotpStep(100)).await.unwrap();

    let login = store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.totp_secret.unwrap().as_bytes(), secret.as_bytes());
    assert_eq!(login.totp_last_step, Some(TotpStep(100)));
    assert_eq!(login.recovery_code_hashes, hashes);
    assert!(users.get(admin).await.unwrap().totp_enabled);
    for replay in [TotpStep(100), TotpStep(99)] {
        assert!(matches!(
            users.record_totp_step(admin, replay).await,
            Err(StoreError::Conflict(Conflict::TotpReplay))
        ));
    }
    users.record_totp_step(admin, TotpStep(101)).await.unwrap();

    assert!(users
        .redeem_recovery_code(admin, codes[3].as_str())
        .await
        .unwrap());
    assert!(!users
        .redeem_recovery_code(admin, codes[3].as_str())
        .await
        .unwrap());
    let login = store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.recovery_code_hashes.len(), hashes.len() - 1);

    users.clear_totp(admin).await.unwrap();
    let login = store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert!(login.totp_secret.is_none() && login.totp_last_step.is_none());
    assert!(login.recovery_code_hashes.is_empty());
}

#[tokio::test]
async fn tokens_expire_and_revoke() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let tokens = store.tenant(acme).tokens();
    let (first, second) = (TokenHash::of("first"), TokenHash::of("second"));
    let expires = now() + 3600;
    tokens.insert(&first, admin, expires).await.unwrap();
    tokens.insert(&second, admin, expires).await.unwrap();

    let owner = store
        .find_token(&first, expires - 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (owner.user_id, owner.tenant_id, owner.role),
        (admin, acme, Role::Admin)
    );
    assert!(
        store.find_token(&first, expires).await.unwrap().is_none(),
        "expired"
    );
    assert!(store
        .find_token(&TokenHash::of("other"), expires - 1)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        tokens.insert(&first, admin, expires).await,
        Err(StoreError::Conflict(Conflict::Token))
    ));

    store.revoke_token(&first).await.unwrap();
    assert!(
        store
            .find_token(&first, expires - 1)
            .await
            .unwrap()
            .is_none(),
        "revoked"
    );
    assert!(store
        .find_token(&second, expires - 1)
        .await
        .unwrap()
        .is_some());
    store.revoke_token(&first).await.unwrap();
    assert!(matches!(
        store.revoke_token(&TokenHash::of("other")).await,
        Err(StoreError::NotFound { what: "token" })
    ));

    assert_eq!(tokens.revoke_all_for_user(admin).await.unwrap(), 1);
    assert!(store
        .find_token(&second, expires - 1)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.purge_expired_tokens(expires).await.unwrap(), 2);
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let token = TokenHash::of("bearer");
    store
        .tenant(acme)
        .tokens()
        .insert(&token, admin, now() + 60)
        .await
        .unwrap();

    store
        .tenant(acme)
        .users()
        .set_disabled(admin, true)
        .await
        .unwrap();

    assert!(store.find_token(&token, now()).await.unwrap().is_none());
}

/// Two writes in one scoped transaction, the second of which fails when `fail` is set,
/// the way every store operation propagates an error: `?` drops the transaction.
async fn insert_two_users(
    store: &Store,
    tenant: crate::store::TenantId,
    fail: bool,
) -> Result<(), StoreError> {
    let mut tx = store.db.scoped_write(tenant).await?;
    let first = tx
        .query(tenant_sql!(
            "INSERT INTO users (tenant_id, id, email, role, password_hash, created_at) \
             VALUES ($1, $2, $3, 'agent', 'h', 0)"
        ))
        .bind(crate::store::UserId::random().to_string())
        .bind("first@acme.example");
    tx.execute(first).await?;

    let role = if fail { "superuser" } else { "agent" };
    let second = tx
        .query(tenant_sql!(
            "INSERT INTO users (tenant_id, id, email, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, 'h', 0)"
        ))
        .bind(crate::store::UserId::random().to_string())
        .bind("second@acme.example")
        .bind(role);
    tx.execute(second).await?;
    tx.commit().await
}

#[tokio::test]
async fn a_write_that_fails_half_way_leaves_nothing() {
    let (stores, _dir) = super::both_stores().await;
    for (kind, store) in stores {
        let (acme, _) = tenant(&store, "acme").await;

        let result = insert_two_users(&store, acme, true).await;

        assert!(
            matches!(result, Err(StoreError::Database(_))),
            "{kind}: {result:?}"
        );
        assert!(
            store
                .find_user_for_login("first@acme.example")
                .await
                .unwrap()
                .is_none(),
            "{kind}: the first insert was rolled back"
        );
        assert_eq!(
            store.tenant(acme).users().list().await.unwrap().len(),
            1,
            "{kind}"
        );
        insert_two_users(&store, acme, false).await.unwrap();
        assert_eq!(
            store.tenant(acme).users().list().await.unwrap().len(),
            3,
            "{kind}"
        );
    }
}
