//! `tidewater bench`, run as a user runs it.

use std::process::{Command, Output};

use serde_json::Value;

const REQUIRED_KEYS: &[&str] = &[
    "system",
    "mode",
    "rows_a",
    "phase_a_rows_per_s",
    "phase_b_rows_per_s",
    "commit_p50_ms",
    "commit_p99_ms",
    "c_count_s",
    "c_point_s",
    "c_avg_s",
    "peak_rss_mb",
    "bytes_on_disk",
    "data_files",
    "snapshots",
    "correct",
    "commits_a",
    "stream_commits",
    "stream_upserts",
    "stream_deletes",
    "buckets",
    "seed",
];

fn tidewater(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tidewater"))
        .args(args)
        .output()
        .expect("the tidewater binary runs")
}

/// The one JSON object stdout must hold.
fn report(out: &Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        stdout.trim().lines().count(),
        1,
        "one JSON object on stdout: {stdout}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(v.is_object());
    v
}

#[test]
fn quick_embedded_bench_reports_one_correct_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let out = tidewater(&[
        "bench",
        "--mode",
        "embedded",
        "--quick",
        "--json",
        "--warehouse",
        warehouse.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr:\n{stderr}",
        out.status
    );
    let v = report(&out);
    for key in REQUIRED_KEYS {
        assert!(v.get(key).is_some(), "missing key {key} in {v}");
    }
    assert_eq!(v["correct"], Value::Bool(true), "{v}");
    assert_eq!(v["system"], "tidewater-embedded");
    assert_eq!(v["mode"], "embedded");
    assert_eq!(v["rows_a"], 100_000);
    assert_eq!(v["rows_b"], 10 * (2_000 + 50));
    // 1 bulk commit per phase A commit and one per stream commit, plus
    // the snapshots of the automatic compactions that ran meanwhile.
    let history = &v["stream_history"];
    assert_eq!(v["compaction"], "auto");
    assert_eq!(history["ingest_commits"], 10 + 10);
    let compactions = history["compactions"].as_u64().unwrap();
    assert!(compactions > 0, "automatic compaction ran: {history}");
    assert_eq!(v["snapshots"].as_u64().unwrap(), 20 + compactions);
    // Compaction keeps the files per bucket below the 20 ingest commits.
    let max_files = history["phase_b_max_files_per_bucket"].as_u64().unwrap();
    assert!(max_files < 20, "{history}");
    assert_eq!(v["expected_count"], 100_000 + 10 * (400 - 50));
    for key in [
        "phase_a_rows_per_s",
        "phase_b_rows_per_s",
        "c_count_s",
        "c_point_s",
        "c_avg_s",
    ] {
        assert!(v[key].as_f64().unwrap() > 0.0, "{key} in {v}");
    }
    // A given warehouse is kept, and the data files counted are there.
    let parquet = walk(&warehouse)
        .iter()
        .filter(|p| p.ends_with(".parquet"))
        .count();
    assert!(parquet > 0);
    assert_eq!(v["data_files"], parquet as u64);
    assert!(
        stderr.contains("phase A"),
        "progress goes to stderr: {stderr}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn a_wrong_answer_makes_the_run_fail_with_correct_false() {
    let out = tidewater(&[
        "bench",
        "--mode",
        "embedded",
        "--json",
        "--rows",
        "2000",
        "--commits",
        "2",
        "--stream-commits",
        "2",
        "--stream-upserts",
        "100",
        "--stream-deletes",
        "10",
        "--inject-wrong-expectation",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = report(&out);
    assert_eq!(v["correct"], Value::Bool(false));
    let wrong = v["wrong_answers"].as_array().unwrap();
    assert!(
        wrong
            .iter()
            .any(|w| w.as_str().unwrap().contains("count(*)")),
        "{v}"
    );
}

#[test]
fn quick_served_bench_starts_a_server_and_reports_correct_answers() {
    let out = tidewater(&[
        "bench",
        "--mode",
        "served",
        "--json",
        "--rows",
        "20000",
        "--commits",
        "4",
        "--stream-commits",
        "4",
        "--stream-upserts",
        "1000",
        "--stream-deletes",
        "20",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}, stderr:\n{stderr}",
        out.status
    );
    let v = report(&out);
    for key in REQUIRED_KEYS {
        assert!(v.get(key).is_some(), "missing key {key} in {v}");
    }
    assert_eq!(v["correct"], Value::Bool(true), "{v}");
    assert_eq!(v["system"], "tidewater-served");
    assert_eq!(v["mode"], "served");
    assert_eq!(v["rows_b"], 4 * (1_000 + 20));
    // 8 commits, plus whatever the server's background compaction added.
    assert!(v["snapshots"].as_u64().unwrap() >= 4 + 4, "{v}");
    assert!(v["server_peak_rss_mb"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["peak_rss_mb"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["data_files"].as_u64().unwrap() > 0, "{v}");
    assert!(stderr.contains("started tidewater serve"), "{stderr}");
}

#[test]
fn compaction_off_runs_the_server_without_maintenance() {
    let out = tidewater(&[
        "bench",
        "--mode",
        "served",
        "--compaction",
        "off",
        "--json",
        "--rows",
        "4000",
        "--commits",
        "2",
        "--stream-commits",
        "12",
        "--stream-upserts",
        "200",
        "--stream-deletes",
        "10",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{stderr}");
    let v = report(&out);
    assert_eq!(v["correct"], Value::Bool(true), "{v}");
    assert_eq!(v["compaction"], "off");
    // The ingest commits and the major compaction after phase A: no background compaction.
    assert_eq!(v["snapshots"], 2 + 1 + 12, "{v}");
    let history = &v["stream_history"];
    assert_eq!(history["compactions"], 1, "{history}");
    assert_eq!(history["major_compactions"], 1, "{history}");
    // One base file per bucket, then one file per stream commit.
    assert_eq!(history["phase_b_max_files_per_bucket"], 1 + 12, "{history}");
}

#[test]
fn endpoint_needs_the_served_mode() {
    let out = tidewater(&["bench", "--endpoint", "http://127.0.0.1:1", "--quick"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--mode served"));
}

#[test]
fn impossible_sizes_are_usage_errors() {
    let out = tidewater(&["bench", "--rows", "10", "--commits", "20"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--commits 20"));
}

#[test]
fn bad_table_properties_are_refused_before_any_work() {
    for (arg, named) in [
        (
            "num-sorted-run.compaction-trigger=1",
            "num-sorted-run.compaction-trigger",
        ),
        ("no-such-property=3", "no-such-property"),
        ("stop-trigger", "KEY=VALUE"),
    ] {
        let out = tidewater(&["bench", "--quick", "--property", arg]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{arg}: {stderr}");
        assert!(stderr.contains(named), "{arg}: {stderr}");
        assert!(!stderr.contains("phase A"), "{arg}: nothing ran: {stderr}");
    }
}

#[test]
fn the_readable_report_is_a_table() {
    let out = tidewater(&[
        "bench",
        "--rows",
        "2000",
        "--commits",
        "2",
        "--stream-commits",
        "2",
        "--stream-upserts",
        "100",
        "--stream-deletes",
        "10",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    for part in ["phase A", "phase B", "phase C", "peak RSS", "correct  yes"] {
        assert!(stdout.contains(part), "{part} missing in:\n{stdout}");
    }
}

#[test]
fn export_writes_the_commits_and_the_model_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = tidewater(&["bench", "--quick", "--export", data.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "an export prints no report");
    let files = std::fs::read_dir(&data).unwrap().count();
    // 10 bulk commits, 10 stream commits of two files each, expected.json.
    assert_eq!(files, 10 + 2 * 10 + 1);
    let expected: Value =
        serde_json::from_slice(&std::fs::read(data.join("expected.json")).unwrap()).unwrap();
    // The same model a run of the same size checks against.
    assert_eq!(expected["count"], 100_000 + 10 * (400 - 50));
    assert_eq!(expected["seed"], 42);
    assert!(expected["probe"]["name"].is_string());
}
