//! Support sessions: the customer's lookups, joining, holding and ending.

use super::{now, tenant};
use crate::auth::token::TokenHash;
use crate::store::{
    Conflict, NewSupportSession, SessionFilter, SessionState, Store, StoreError, UserId,
};

fn new_session(agent: UserId, pin: &str, external_ref: &str, expires: i64) -> NewSupportSession {
    NewSupportSession {
        agent,
        customer_name: None,
        external_ref: Some(external_ref.into()),
        pin_hash: TokenHash::of(pin),
        join_token_hash: TokenHash::of(&format!("join-{pin}-{external_ref}")),
        key_expires_at: expires,
    }
}

#[tokio::test]
async fn customers_find_a_session_by_pin_or_join_token_until_it_is_joined_or_expires() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let expires = now() + 600;
    let new = new_session(admin, "123456", "T-1", expires);
    let id = store.tenant(acme).sessions().create(&new).await.unwrap();

    let by_pin = store
        .find_session_by_pin_hash(&new.pin_hash, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_pin.id, by_pin.tenant_id, by_pin.agent_id),
        (id, acme, admin)
    );
    assert_eq!(by_pin.state, SessionState::Waiting);
    let by_token = store
        .find_session_by_join_token_hash(&new.join_token_hash, now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((by_token.id, by_token.tenant_id), (id, acme));
    assert!(store
        .find_session_by_pin_hash(&TokenHash::of("654321"), now())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_session_by_pin_hash(&new.pin_hash, expires)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_session_by_join_token_hash(&new.join_token_hash, expires)
        .await
        .unwrap()
        .is_none());

    store
        .tenant(acme)
        .sessions()
        .mark_joined(id, now())
        .await
        .unwrap();
    assert!(store
        .find_session_by_pin_hash(&new.pin_hash, now())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .find_session_by_join_token_hash(&new.join_token_hash, now())
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_session_is_joined_once_held_resumed_and_ended_once() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let sessions = store.tenant(acme).sessions();
    let id = sessions
        .create(&new_session(admin, "123456", "T-1", now() + 600))
        .await
        .unwrap();
    let state_conflict =
        |r: Result<(), StoreError>| matches!(r, Err(StoreError::Conflict(Conflict::SessionState)));

    assert!(
        state_conflict(sessions.set_state(id, SessionState::Held).await),
        "not joined"
    );
    sessions.mark_joined(id, now()).await.unwrap();
    assert!(state_conflict(sessions.mark_joined(id, now()).await));
    sessions.set_state(id, SessionState::Held).await.unwrap();
    assert_eq!(sessions.get(id).await.unwrap().state, SessionState::Held);
    sessions.set_state(id, SessionState::Active).await.unwrap();
    assert!(matches!(
        sessions.set_state(id, SessionState::Ended).await,
        Err(StoreError::Invalid { .. })
    ));
    sessions.end(id, "resolved").await.unwrap();
    assert!(state_conflict(sessions.end(id, "again").await));
    assert!(state_conflict(
        sessions.set_state(id, SessionState::Active).await
    ));

    let ended = sessions.get(id).await.unwrap();
    assert_eq!(ended.state, SessionState::Ended);
    assert_eq!(ended.end_reason.as_deref(), Some("resolved"));
    assert!(ended.joined_at.is_some() && ended.ended_at.is_some());
}

#[tokio::test]
async fn joining_after_the_key_expired_is_refused() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let sessions = store.tenant(acme).sessions();
    let expires = now() + 600;
    let id = sessions
        .create(&new_session(admin, "123456", "T-1", expires))
        .await
        .unwrap();

    let result = sessions.mark_joined(id, expires).await;

    assert!(matches!(
        result,
        Err(StoreError::Conflict(Conflict::SessionState))
    ));
}

#[tokio::test]
async fn an_open_pin_is_unique_and_freed_when_its_key_expires() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let (globex, globex_admin) = tenant(&store, "globex").await;
    let sessions = store.tenant(acme).sessions();
    sessions
        .create(&new_session(admin, "123456", "T-1", now() + 600))
        .await
        .unwrap();

    let same_pin = store
        .tenant(globex)
        .sessions()
        .create(&new_session(globex_admin, "123456", "G-1", now() + 600))
        .await;
    assert!(matches!(same_pin, Err(StoreError::Conflict(Conflict::Pin))));

    let stale = sessions
        .create(&new_session(admin, "999999", "T-2", now() - 1))
        .await
        .unwrap();
    sessions
        .create(&new_session(admin, "999999", "T-3", now() + 600))
        .await
        .unwrap();
    let stale = sessions.get(stale).await.unwrap();
    assert_eq!(stale.state, SessionState::Ended);
    assert_eq!(stale.end_reason.as_deref(), Some("key_expired"));
}

#[tokio::test]
async fn unjoined_expired_sessions_are_ended_in_bulk() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let sessions = store.tenant(acme).sessions();
    let expires = now() + 600;
    let old = sessions
        .create(&new_session(admin, "1", "T-1", expires))
        .await
        .unwrap();
    let joined = sessions
        .create(&new_session(admin, "2", "T-2", expires))
        .await
        .unwrap();
    sessions.mark_joined(joined, now()).await.unwrap();

    assert_eq!(
        store.end_unjoined_expired_sessions(expires).await.unwrap(),
        1
    );

    assert_eq!(sessions.get(old).await.unwrap().state, SessionState::Ended);
    assert_eq!(
        sessions.get(joined).await.unwrap().state,
        SessionState::Active
    );
}

#[tokio::test]
async fn sessions_are_listed_by_agent_and_external_reference() {
    let store = Store::open_in_memory().await.unwrap();
    let (acme, admin) = tenant(&store, "acme").await;
    let agent = store
        .tenant(acme)
        .users()
        .create("agent@acme.example", crate::store::Role::Agent, "h")
        .await
        .unwrap();
    let sessions = store.tenant(acme).sessions();
    let expires = now() + 600;
    let a = sessions
        .create(&new_session(admin, "1", "T-1", expires))
        .await
        .unwrap();
    let b = sessions
        .create(&new_session(agent, "2", "T-1", expires))
        .await
        .unwrap();
    let c = sessions
        .create(&new_session(agent, "3", "T-2", expires))
        .await
        .unwrap();

    let ids = |list: Vec<crate::store::SupportSession>| {
        let mut ids: Vec<_> = list.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<crate::store::SessionId>| {
        v.sort();
        v
    };
    let all = sessions.list(&SessionFilter::default()).await.unwrap();
    assert_eq!(ids(all), sorted(vec![a, b, c]));
    let by_agent = SessionFilter {
        agent: Some(agent),
        external_ref: None,
    };
    assert_eq!(
        ids(sessions.list(&by_agent).await.unwrap()),
        sorted(vec![b, c])
    );
    let by_ref = SessionFilter {
        agent: None,
        external_ref: Some("T-1".into()),
    };
    assert_eq!(
        ids(sessions.list(&by_ref).await.unwrap()),
        sorted(vec![a, b])
    );
    let both = SessionFilter {
        agent: Some(agent),
        external_ref: Some("T-1".into()),
    };
    assert_eq!(ids(sessions.list(&both).await.unwrap()), vec![b]);
}
