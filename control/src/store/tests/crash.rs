//! Durability: what was committed is there after the store is dropped or its process is
//! killed with SIGKILL, and nothing half-written is.
//!
//! The killed process is this test binary itself, run on one ignored test
//! ([`child_writes_until_killed`]) that creates tenants in a loop and prints the number of
//! each one after its commit returns.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{tenant, HASH};
use crate::store::Store;

/// The environment variable that gives the child its database path.
const CHILD_DB: &str = "SIGHTLINE_STORE_CRASH_TEST_DB";

/// Commits the parent waits to see before it kills the child.
const COMMITS_BEFORE_KILL: usize = 40;

/// How long the parent waits for them.
const WAIT: Duration = Duration::from_secs(60);

/// The child's tenant and admin for iteration `i`.
fn names(i: usize) -> (String, String) {
    (format!("tenant-{i}"), format!("admin{i}@example.com"))
}

#[tokio::test]
async fn data_written_then_dropped_without_close_is_there_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.db");

    let store = Store::open(&path).await.unwrap();
    let (acme, _) = tenant(&store, "acme").await;
    drop(store);

    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.list_tenants().await.unwrap()[0].id, acme);
    assert!(store
        .find_user_for_login("admin@acme.example")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
#[ignore = "the child process of committed_writes_survive_sigkill; runs only there"]
async fn child_writes_until_killed() {
    let Ok(path) = std::env::var(CHILD_DB) else {
        return;
    };
    let store = Store::open(Path::new(&path)).await.unwrap();
    for i in 0..10_000 {
        let (name, email) = names(i);
        store
            .create_tenant_with_admin(&name, &email, HASH)
            .await
            .unwrap();
        println!("committed {i}");
    }
}

/// Kills the child on drop, so that a failing assertion leaves no process behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the child writer on `db` and returns it with a channel of its committed numbers.
fn spawn_child(db: &Path) -> (KillOnDrop, mpsc::Receiver<usize>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "store::tests::crash::child_writes_until_killed"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DB, db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();

    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                if tx.send(n.parse::<usize>().unwrap()).is_err() {
                    return;
                }
            }
        }
    });
    (KillOnDrop(child), rx)
}

#[tokio::test]
async fn committed_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("control.db");
    let (mut child, commits) = spawn_child(&path);

    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while last.is_none_or(|n| n + 1 < COMMITS_BEFORE_KILL) {
        let left = deadline.saturating_duration_since(Instant::now());
        last = Some(
            commits
                .recv_timeout(left)
                .expect("child reported too few commits"),
        );
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let last = last.unwrap();

    let store = Store::open(&path).await.unwrap();
    let tenants = store.list_tenants().await.unwrap();
    assert!(
        tenants.len() > last,
        "{} tenants, commit {last} reported",
        tenants.len()
    );
    for i in 0..=last {
        let (name, email) = names(i);
        let login = store.find_user_for_login(&email).await.unwrap();
        let tenant = tenants.iter().find(|t| t.name == name);
        assert_eq!(
            login.map(|l| l.tenant_id),
            tenant.map(|t| t.id),
            "commit {i} lost"
        );
    }
    for t in &tenants {
        let admins = store.tenant(t.id).users().list().await.unwrap();
        assert_eq!(
            admins.len(),
            1,
            "{} has no admin: a half-written commit",
            t.name
        );
    }
}
