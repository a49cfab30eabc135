//! `tidewater serve` as a process: `kill -9` after blocks were acknowledged, restart, commit —
//! every acknowledged row is there once; a commit cut by `kill -9` is retried after the restart
//! and applies exactly once; users added with `tidewater user` can sign in.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use serde_json::json;
use tidewater_client::{Client, Credentials, SqlOutput};

pub(crate) const ID: &str = "TWKILLTEST";
pub(crate) const KEY: &str = "kill-test-secret";

/// A `tidewater serve` child process on `dir` (killed when dropped).
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) endpoint: String,
}

impl Server {
    pub(crate) fn start(dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tidewater"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
                "--warehouse",
            ])
            .arg(dir)
            .env("TIDEWATER_ACCESS_ID", ID)
            .env("TIDEWATER_ACCESS_KEY", KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let endpoint = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Server { child, endpoint }
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(&self.endpoint, Credentials::new(ID, KEY)).unwrap()
    }

    /// `kill -9`.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn count_and_distinct(client: &Client) -> (i64, i64) {
    let SqlOutput::Rows { batches, .. } = client
        .sql("default", "SELECT count(*), count(DISTINCT id) FROM t")
        .await
        .unwrap()
    else {
        panic!("expected rows")
    };
    let b = &batches[0];
    (
        b.column(0).as_primitive::<Int64Type>().value(0),
        b.column(1).as_primitive::<Int64Type>().value(0),
    )
}

#[tokio::test]
async fn acknowledged_blocks_survive_kill_9_and_commit_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let client = server.client();
    client
        .sql(
            "default",
            "CREATE TABLE t (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id)) \
             TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4')",
        )
        .await
        .unwrap();
    let mut s = client
        .upsert_session("default", "t")
        .bucket_buffer_bytes(1024)
        .open()
        .await
        .unwrap();
    for id in 0..2000i64 {
        s.upsert(&json!({"id": id, "name": "before"}))
            .await
            .unwrap();
    }
    s.flush().await.unwrap();
    let (session_id, next) = (s.session_id().to_string(), s.next_block_number());
    drop(s);
    server.kill();

    let server = Server::start(dir.path());
    let client = server.client();
    let mut s = client
        .open_upsert_session("default", "t", &session_id)
        .first_block_number(next)
        .open()
        .await
        .unwrap();
    assert_eq!(s.info().await.unwrap().rows, 2000);
    s.commit().await.unwrap();
    assert_eq!(count_and_distinct(&client).await, (2000, 2000));
}

#[tokio::test]
async fn a_commit_cut_by_kill_9_applies_exactly_once_when_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let client = server.client();
    client
        .sql(
            "default",
            "CREATE TABLE t (id BIGINT NOT NULL, name STRING, PRIMARY KEY (id)) \
             TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='2')",
        )
        .await
        .unwrap();
    let mut expected = 0i64;
    // Kill at different moments of the commit: before, during and after it lands.
    for (round, delay_ms) in [0u64, 2, 5, 10, 40].into_iter().enumerate() {
        let client = server.client();
        let mut s = client
            .upsert_session("default", "t")
            .bucket_buffer_bytes(2048)
            .commit_retries(0)
            .open()
            .await
            .unwrap();
        let base = round as i64 * 10_000;
        for id in base..base + 500 {
            s.upsert(&json!({"id": id, "name": "x"})).await.unwrap();
        }
        s.flush().await.unwrap();
        let session_id = s.session_id().to_string();
        let commit = tokio::spawn(async move { s.commit().await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        server.kill();
        let _ = commit.await.unwrap();
        server = Server::start(dir.path());
        let client = server.client();
        let mut again = client
            .open_upsert_session("default", "t", &session_id)
            .open()
            .await
            .unwrap();
        let first = again.commit().await.unwrap();
        // Retrying once more returns the same snapshot.
        assert_eq!(again.commit().await.unwrap().snapshot_id, first.snapshot_id);
        expected += 500;
        assert_eq!(
            count_and_distinct(&client).await,
            (expected, expected),
            "round {round}"
        );
    }
}

#[tokio::test]
async fn users_added_by_the_user_command_can_sign_in_with_their_grants() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_tidewater"))
        .args(["user", "--warehouse"])
        .arg(dir.path())
        .args(["add", "alice"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("export {name}=")))
            .unwrap()
            .to_string()
    };
    let alice = Client::new(
        &server.endpoint,
        Credentials::new(value("TIDEWATER_ACCESS_ID"), value("TIDEWATER_ACCESS_KEY")),
    )
    .unwrap();
    let err = alice.sql("default", "SHOW TABLES").await.unwrap_err();
    assert!(err.to_string().contains("no read grant"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_tidewater"))
        .args(["user", "--warehouse"])
        .arg(dir.path())
        .args(["grant", "alice", "default", "read"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    alice.sql("default", "SHOW TABLES").await.unwrap();
}
