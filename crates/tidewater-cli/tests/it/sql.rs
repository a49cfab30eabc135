//! `tidewater sql` through the built binary: the reference scenario in CSV, scripts from files and
//! standard input, output formats, and errors (statement and reason on stderr, exit code 1,
//! nothing of the failing statement written).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn tidewater() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tidewater"))
}

fn sql(warehouse: &std::path::Path, args: &[&str]) -> Output {
    tidewater()
        .arg("sql")
        .arg("--warehouse")
        .arg(warehouse)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run tidewater")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const CREATE: &str = r#"
CREATE TABLE mf_flink_tt (
  id BIGINT NOT NULL, name STRING, age INT, status BOOLEAN, PRIMARY KEY (id)
) TBLPROPERTIES ("transactional" = "true", "write.bucket.num" = "64", "acid.data.retain.hours" = "12");
CREATE TABLE mf_flink_tt_part (
  id BIGINT NOT NULL, name STRING, age INT, status BOOLEAN, PRIMARY KEY (id)
) PARTITIONED BY (dd STRING, hh STRING)
TBLPROPERTIES ("transactional" = "true", "write.bucket.num" = "64", "acid.data.retain.hours" = "12");
"#;

#[test]
fn the_reference_scenario_prints_exactly_in_csv() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let created = sql(w, &["--format", "csv", "-e", CREATE]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created), "");

    let first = sql(
        w,
        &[
            "--format",
            "csv",
            "-e",
            "INSERT INTO mf_flink_tt VALUES (1, 'Danny', 27, false); SELECT * FROM mf_flink_tt;",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(stdout(&first), "id,name,age,status\n1,Danny,27,false\n");

    let second = sql(
        w,
        &[
            "--format",
            "csv",
            "-e",
            "INSERT INTO mf_flink_tt VALUES (1, 'Danny', 28, false); SELECT * FROM mf_flink_tt",
        ],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&second), "id,name,age,status\n1,Danny,28,false\n");

    let part = sql(
        w,
        &[
            "--format",
            "csv",
            "-e",
            "INSERT INTO mf_flink_tt_part VALUES (1, 'Danny', 27, false, '01', '01'); \
             SELECT * FROM mf_flink_tt_part WHERE dd = '01' AND hh = '01';",
        ],
    );
    assert!(part.status.success(), "{}", stderr(&part));
    assert_eq!(
        stdout(&part),
        "id,name,age,status,dd,hh\n1,Danny,27,false,01,01\n"
    );
}

#[test]
fn files_and_standard_input_run_as_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let script = dir.path().join("s.sql");
    std::fs::write(
        &script,
        "-- a script\nCREATE TABLE t (a INT, b STRING);\nINSERT INTO t VALUES (1, 'x;y'), (2, NULL);\n",
    )
    .unwrap();
    let o = sql(w, &["-f", script.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));

    let mut child = tidewater()
        .args(["sql", "--format", "csv", "--warehouse"])
        .arg(w)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT * FROM t\nORDER BY a;\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a,b\n1,x;y\n2,\n");

    let o = sql(w, &["--format", "json", "-e", "SELECT * FROM t ORDER BY a"]);
    assert_eq!(
        stdout(&o),
        "{\"a\":1,\"b\":\"x;y\"}\n{\"a\":2,\"b\":null}\n"
    );
    let o = sql(w, &["-e", "SELECT count(*) AS n FROM t"]);
    assert_eq!(stdout(&o), "+---+\n| n |\n+---+\n| 2 |\n+---+\n");
}

#[test]
fn a_failing_statement_is_reported_and_stops_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path();
    let o = sql(
        w,
        &[
            "--format",
            "csv",
            "-e",
            "CREATE TABLE t (id BIGINT NOT NULL, v VARCHAR(3), PRIMARY KEY (id)) \
               TBLPROPERTIES ('transactional'='true'); \
             INSERT INTO t VALUES (1, 'ok'); \
             INSERT INTO t VALUES (2, 'abc'), (3, 'toolong'); \
             SELECT 'not reached'",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("row 1: column 'v' is VARCHAR(3), but the value has 7 characters"),
        "{err}"
    );
    assert!(
        err.contains("in statement 3: INSERT INTO t VALUES (2, 'abc'), (3, 'toolong')"),
        "{err}"
    );
    assert_eq!(stdout(&o), "");

    let o = sql(w, &["--format", "csv", "-e", "SELECT * FROM t"]);
    assert_eq!(
        stdout(&o),
        "id,v\n1,ok\n",
        "nothing of the failed statement"
    );

    let o = sql(w, &["-e", "SELECT * FROM missing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("table 'default.missing' does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_with_two() {
    let dir = tempfile::tempdir().unwrap();
    let o = sql(dir.path(), &["-e", "SELECT 1", "-f", "x.sql"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = sql(dir.path(), &["--format", "xml", "-e", "SELECT 1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// A `tidewater serve` on a temporary warehouse and a free port; killed when dropped.
struct Server {
    child: std::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

const ACCESS_ID: &str = "it-root";
const ACCESS_KEY: &str = "it-secret-key-0123456789";

impl Server {
    fn start() -> Server {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let mut child = tidewater()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
                "--warehouse",
            ])
            .arg(dir.path())
            .env("TIDEWATER_ACCESS_ID", ACCESS_ID)
            .env("TIDEWATER_ACCESS_KEY", ACCESS_KEY)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let endpoint = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {first:?}"))
            .to_string();
        Server {
            child,
            endpoint,
            _dir: dir,
        }
    }

    fn sql(&self, args: &[&str]) -> Output {
        tidewater()
            .args(["sql", "--endpoint", &self.endpoint])
            .args(args)
            .env("TIDEWATER_ACCESS_ID", ACCESS_ID)
            .env("TIDEWATER_ACCESS_KEY", ACCESS_KEY)
            .env_remove("TIDEWATER_WAREHOUSE")
            .stdin(Stdio::null())
            .output()
            .expect("run tidewater")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn statements_run_on_a_server_with_the_same_output() {
    let server = Server::start();
    let o = server.sql(&[
        "--format",
        "csv",
        "-e",
        "CREATE TABLE t (id BIGINT NOT NULL, name STRING, ok BOOLEAN, PRIMARY KEY (id)) \
           TBLPROPERTIES ('transactional'='true', 'write.bucket.num'='4'); \
         INSERT INTO t VALUES (1, 'Danny', false), (2, 'x,y', NULL); \
         INSERT INTO t VALUES (1, 'Dan', true); \
         SELECT * FROM t ORDER BY id;",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "id,name,ok\n1,Dan,true\n2,\"x,y\",\n");
    assert!(stderr(&o).contains("created table"), "{}", stderr(&o));

    let o = server.sql(&["--format", "json", "-e", "SELECT id FROM t ORDER BY id"]);
    assert_eq!(stdout(&o), "{\"id\":1}\n{\"id\":2}\n");
    let o = server.sql(&["-e", "SELECT count(*) AS n FROM t"]);
    assert_eq!(stdout(&o), "+---+\n| n |\n+---+\n| 2 |\n+---+\n");

    // USE switches the project later statements are sent with; --project sets the first one.
    let o = server.sql(&[
        "--format",
        "csv",
        "-e",
        "CREATE PROJECT p2; USE p2; CREATE TABLE u (a INT); INSERT INTO u VALUES (7); \
         SELECT * FROM u; USE default; SELECT count(*) AS n FROM t",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "a\n7\nn\n2\n");
    let o = server.sql(&[
        "--project",
        "p2",
        "--format",
        "csv",
        "-e",
        "SELECT * FROM u",
    ]);
    assert_eq!(stdout(&o), "a\n7\n", "{}", stderr(&o));

    // Errors: the reason and the statement, exit code 1, nothing after it runs.
    let o = server.sql(&["-e", "SELECT 1 AS one; SELECT * FROM missing; SELECT 2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error: ") && err.contains("table 'default.missing' does not exist"),
        "{err}"
    );
    assert!(
        err.contains("in statement 2: SELECT * FROM missing"),
        "{err}"
    );
    assert!(!stdout(&o).contains('2'), "{}", stdout(&o));
}

#[test]
fn the_endpoint_needs_credentials_and_excludes_the_warehouse() {
    let o = tidewater()
        .args(["sql", "--endpoint", "http://127.0.0.1:1", "-e", "SELECT 1"])
        .env_remove("TIDEWATER_ACCESS_ID")
        .env_remove("TIDEWATER_ACCESS_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("TIDEWATER_ACCESS_ID"), "{}", stderr(&o));

    let o = tidewater()
        .args([
            "sql",
            "--endpoint",
            "http://h:1",
            "--warehouse",
            "w",
            "-e",
            "SELECT 1",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    let o = tidewater()
        .args(["sql", "-e", "SELECT 1"])
        .env_remove("TIDEWATER_WAREHOUSE")
        .env_remove("TIDEWATER_ENDPOINT")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--endpoint"), "{}", stderr(&o));
}
