//! Tests of the store against SQLite in memory and in a file of a temporary directory.

mod crash;
mod isolation;
mod sessions;
mod users;

use std::path::Path;

use tempfile::TempDir;

use super::model::unix_now;
use super::{Conflict, Store, StoreError, TenantId, UserId};

/// A password hash as the store sees it: an opaque string.
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";

/// A store in a fresh temporary directory, which lives as long as the returned guard.
async fn file_store() -> (Store, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("control.db")).await.unwrap();
    (store, dir)
}

/// One store of each kind, for tests that must hold for both; the directory guard lives
/// as long as the stores.
async fn both_stores() -> (Vec<(&'static str, Store)>, TempDir) {
    let (file, dir) = file_store().await;
    let memory = Store::open_in_memory().await.unwrap();
    (vec![("file", file), ("memory", memory)], dir)
}

/// A tenant called `name` with admin `admin@<name>.example`.
async fn tenant(store: &Store, name: &str) -> (TenantId, UserId) {
    let email = format!("admin@{name}.example");
    store
        .create_tenant_with_admin(name, &email, HASH)
        .await
        .unwrap()
}

/// Now, by the system clock, as the store stamps rows.
fn now() -> i64 {
    unix_now()
}

#[tokio::test]
async fn open_creates_parent_directories_and_reopens_with_migrations_applied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/control.db");

    let store = Store::open(&path).await.unwrap();
    let (id, _) = tenant(&store, "acme").await;
    store.close().await;

    let store = Store::open(&path).await.unwrap();
    let tenants = store.list_tenants().await.unwrap();
    assert_eq!(tenants.len(), 1);
    assert_eq!(tenants[0].id, id);
    assert_eq!(tenants[0].name, "acme");
    assert_eq!(tenants[0].settings, super::TenantSettings::default());
}

#[tokio::test]
async fn file_store_runs_in_wal_mode() {
    let (store, _dir) = file_store().await;

    assert_eq!(store.journal_mode().await.unwrap(), "wal");
}

#[test]
fn embedded_migrations_match_the_migrations_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();

    assert_eq!(files.len(), super::db::MIGRATIONS.len());
    for (file, &(version, description, sql)) in files.iter().zip(super::db::MIGRATIONS) {
        let name = file.file_stem().unwrap().to_str().unwrap();
        assert_eq!(name, format!("{version:04}_{description}"));
        assert_eq!(std::fs::read_to_string(file).unwrap(), sql);
    }
}

#[tokio::test]
async fn create_tenant_then_find_admin_for_login_by_normalised_email() {
    let (stores, _dir) = both_stores().await;
    for (kind, store) in stores {
        let (tenant, admin) = store
            .create_tenant_with_admin("  Acme  ", "  Admin@Acme.EXAMPLE ", HASH)
            .await
            .unwrap();

        let login = store
            .find_user_for_login("ADMIN@acme.example")
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{kind}: admin not found"));
        assert_eq!((login.user_id, login.tenant_id), (admin, tenant), "{kind}");
        assert_eq!(login.role, super::Role::Admin);
        assert_eq!(login.password_hash, HASH);
        assert!(login.totp_secret.is_none() && login.totp_last_step.is_none());
        assert!(login.recovery_code_hashes.is_empty());
        assert!(!login.disabled);
        assert_eq!(login.tenant_subscription_ended_at, None);

        let listed = store.tenant(tenant).users().list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].email, "admin@acme.example");
        assert_eq!(store.list_tenants().await.unwrap()[0].name, "Acme");
        assert!(store
            .find_user_for_login("nobody@acme.example")
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn duplicate_email_in_another_tenant_is_a_conflict_and_leaves_no_tenant() {
    let (stores, _dir) = both_stores().await;
    for (kind, store) in stores {
        tenant(&store, "acme").await;

        let result = store
            .create_tenant_with_admin("globex", "ADMIN@acme.example", HASH)
            .await;

        assert!(
            matches!(result, Err(StoreError::Conflict(Conflict::Email))),
            "{kind}: {result:?}"
        );
        let names: Vec<String> = store
            .list_tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["acme"], "{kind}: the tenant insert was rolled back");
        tenant(&store, "globex").await;
    }
}

#[tokio::test]
async fn duplicate_tenant_name_is_a_conflict() {
    let store = Store::open_in_memory().await.unwrap();
    tenant(&store, "acme").await;

    let result = store
        .create_tenant_with_admin("acme", "other@example.com", HASH)
        .await;

    assert!(matches!(
        result,
        Err(StoreError::Conflict(Conflict::TenantName))
    ));
    assert!(store
        .find_user_for_login("other@example.com")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_database() {
    let store = Store::open_in_memory().await.unwrap();

    for email in [
        "",
        "   ",
        "no-at-sign",
        "@example.com",
        "a@",
        "a b@example.com",
    ] {
        let result = store.create_tenant_with_admin("acme", email, HASH).await;
        assert!(
            matches!(result, Err(StoreError::Invalid { field: "email", .. })),
            "{email:?}"
        );
    }
    let result = store
        .create_tenant_with_admin("  ", "a@example.com", HASH)
        .await;
    assert!(matches!(result, Err(StoreError::Invalid { .. })));
    assert!(matches!(
        TenantId::parse("not-a-uuid"),
        Err(StoreError::Invalid { .. })
    ));
    assert!(store.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn terminating_a_tenant_ends_its_subscription_and_its_tokens() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let token = crate::auth::token::TokenHash::of("bearer");
    store
        .tenant(acme)
        .tokens()
        .insert(&token, admin, now() + 3600)
        .await
        .unwrap();

    assert_eq!(store.terminate_tenant("acme").await.unwrap(), acme);

    let ended = store
        .tenant(acme)
        .get()
        .await
        .unwrap()
        .subscription_ended_at;
    assert!(ended.is_some());
    let login = store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(login.tenant_subscription_ended_at, ended);
    assert!(store.find_token(&token, now() + 1).await.unwrap().is_none());
    assert!(matches!(
        store.terminate_tenant("globex").await,
        Err(StoreError::NotFound { what: "tenant" })
    ));
}

#[tokio::test]
async fn tenant_settings_round_trip() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, _) = tenant(&store, "acme").await;
    let settings = super::TenantSettings {
        require_2fa: true,
        support_key_validity_secs: 120,
    };

    store.tenant(acme).set_settings(&settings).await.unwrap();

    assert_eq!(store.tenant(acme).get().await.unwrap().settings, settings);
    let login = store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .unwrap();
    assert!(login.tenant_settings.require_2fa);
}

#[test]
#[should_panic(expected = "scoped by tenant_id")]
fn tenant_sql_without_the_tenant_filter_is_refused() {
    super::db::TenantSql::new("SELECT id FROM users WHERE id = $1");
}

#[test]
#[should_panic(expected = "scoped by tenant_id")]
fn tenant_sql_binding_the_tenant_as_a_later_parameter_is_refused() {
    super::db::TenantSql::new("SELECT id FROM users WHERE tenant_id = $12");
}

#[test]
fn tenant_modules_reach_the_database_only_through_the_scope() {
    let sources = [
        ("users.rs", include_str!("../users.rs")),
        ("tokens.rs", include_str!("../tokens.rs")),
        ("sessions.rs", include_str!("../sessions.rs")),
        ("scope.rs", include_str!("../scope.rs")),
    ];
    for (file, source) in sources {
        for forbidden in ["sqlx::query", "global_read", "global_write", "sqlx::Pool"] {
            assert!(!source.contains(forbidden), "{file} uses {forbidden}");
        }
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_directory_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/control.db");

    let store = Store::open(&path).await.unwrap();
    tenant(&store, "acme").await;

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&dir.path().join("state/control.db-wal")), 0o600);
}

/// Compiles only if `future` can move between threads, as a server's handlers must.
fn assert_send<T: Send>(_future: T) {}

#[tokio::test]
async fn store_futures_are_send() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let hash = crate::auth::token::TokenHash::of("x");

    assert_send(store.find_token(&hash, 0));
    assert_send(store.create_tenant_with_admin("a", "b@c", HASH));
    assert_send(store.tenant(acme).users().list());
    assert_send(
        store
            .tenant(acme)
            .users()
            .redeem_recovery_code(admin, "code"),
    );
    assert_send(store.tenant(acme).tokens().insert(&hash, admin, 0));
    assert_send(
        store
            .tenant(acme)
            .sessions()
            .list(&super::SessionFilter::default()),
    );
}
