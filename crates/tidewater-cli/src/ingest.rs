//! `tidewater ingest`: stream NDJSON or CSV files (or standard input, or generated rows) into
//! a table through the checkpointed sink of `tidewater-client`, exactly once.
//!
//! ```text
//! tidewater ingest --endpoint URL --table t [--operation upsert|insert] [--format ndjson|csv] FILES… | -
//! tidewater ingest --endpoint URL --table t --source datagen --rows-per-second 1000 [--max-rows N]
//! ```
//!
//! Every `--checkpoint-interval` (and at the end of the input) the sink flushes, records the
//! read position with the checkpoint in its state file (`--state-dir`, one file per job) and
//! commits. The job id is `--job-id`, or derived from the command line (endpoint, table,
//! operation, format, source and the inputs' absolute paths), so running the same command line
//! again resumes after the last commit — also after `kill -9` at any moment: no record lost,
//! none twice (see `tidewater_client::sink` for the protocol).
//!
//! Bad records (not JSON, wrong type, NULL key, unknown column, …) stop the ingest with
//! `file:line: reason` after committing everything before them (exit 1), or, with
//! `--on-error skip`, go to the dead-letter file (one JSON object per line: file, line,
//! reason, record) and are counted; its length is part of each checkpoint, so a resume
//! truncates what an interrupted run appended after its last commit. Nothing is dropped
//! silently.
//!
//! A progress bar (rows/s, bytes, last commit) is drawn on standard error when it is a
//! terminal; a summary line is always printed at the end.

mod progress;
mod source;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tidewater_client::sink::{CheckpointRecord, Operation, Sink, SinkError, SinkOptions};
use tidewater_client::{Client, Credentials};
use tokio::sync::mpsc;

use progress::Progress;
use source::{Format, Input, Item, Location, Position, Reader};

/// Environment variable naming the state directory when `--state-dir` is not given.
pub const STATE_DIR_ENV: &str = "TIDEWATER_STATE_DIR";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    Upsert,
    Insert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Ndjson,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The FILES (or `-`, standard input).
    Files,
    /// Generated rows (keys 0, 1, 2, …) for demos.
    Datagen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnError {
    /// Stop at the first bad record, naming file, line and reason (exit 1).
    Fail,
    /// Write bad records to the dead-letter file and go on.
    Skip,
}

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Input files, read in order ('-' is standard input).
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// The table: `[project.]table`.
    #[arg(long)]
    pub table: String,

    /// upsert (Delta tables) or insert; default: upsert on Delta tables, insert otherwise.
    #[arg(long, value_enum)]
    pub operation: Option<OperationArg>,

    /// Input format; default: csv for files ending in .csv, ndjson otherwise.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Where records come from.
    #[arg(long, value_enum, default_value_t = SourceArg::Files)]
    pub source: SourceArg,

    /// Rows per second at most (any source; datagen: 1000 by default).
    #[arg(long, value_name = "N")]
    pub rows_per_second: Option<u64>,

    /// datagen: stop after this many rows.
    #[arg(long, value_name = "N")]
    pub max_rows: Option<u64>,

    /// Time between checkpoints (commits): e.g. 10s, 500ms, 2min.
    #[arg(long, default_value = "10s", value_parser = parse_interval)]
    pub checkpoint_interval: Duration,

    /// The job's id: its state and resume point. Default: derived from the command line.
    #[arg(long)]
    pub job_id: Option<String>,

    /// Directory of job state files [env: TIDEWATER_STATE_DIR; default
    /// ~/.local/state/tidewater/ingest].
    #[arg(long)]
    pub state_dir: Option<PathBuf>,

    /// What to do with a bad record.
    #[arg(long, value_enum, default_value_t = OnError::Fail)]
    pub on_error: OnError,

    /// Dead-letter file of --on-error skip (default: <state dir>/<job id>.dead-letter.ndjson).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,

    /// Sink option `key=value` (the reference connector's names, e.g. sink.time-zone=+08:00,
    /// upsert.write.bucket.num=64, sink.partition=dd=01); repeatable.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,

    /// The Tunnel server, e.g. http://127.0.0.1:8470; credentials from TIDEWATER_ACCESS_ID /
    /// TIDEWATER_ACCESS_KEY [env: TIDEWATER_ENDPOINT].
    #[arg(long)]
    pub endpoint: Option<String>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    match tidewater_client::sink::parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "'{text}' is not a duration such as 10s, 500ms or 2min"
        )),
    }
}

/// Runs `tidewater ingest` on a new Tokio runtime.
pub fn run_blocking(args: IngestArgs) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tidewater ingest: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => code,
        Err(Failure::Usage(m)) => {
            eprintln!("tidewater ingest: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Run(m)) => {
            eprintln!("tidewater ingest: {m}");
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

fn run_err(e: impl std::fmt::Display) -> Failure {
    Failure::Run(e.to_string())
}

/// FNV-1a 64: a stable fingerprint (the standard hasher may change between Rust versions).
fn fingerprint(parts: &[String]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/state/tidewater/ingest")
}

async fn run(args: IngestArgs) -> Result<ExitCode, Failure> {
    // Options: -o pairs, then the flags (a flag and the same -o key conflict).
    let mut map = BTreeMap::new();
    for pair in &args.options {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(Failure::Usage(format!(
                "-o {pair}: expected KEY=VALUE (e.g. -o sink.time-zone=+08:00)"
            )));
        };
        map.insert(k.trim().to_string(), v.trim().to_string());
    }
    let mut put = |key: &str, value: String| -> Result<(), Failure> {
        if map.insert(key.to_string(), value).is_some() {
            return Err(Failure::Usage(format!(
                "{key} is given both as a flag and with -o"
            )));
        }
        Ok(())
    };
    put("table.name", args.table.clone())?;
    if let Some(op) = args.operation {
        let name = match op {
            OperationArg::Upsert => "upsert",
            OperationArg::Insert => "insert",
        };
        put("sink.operation", name.to_string())?;
    }
    let mut options = SinkOptions::from_map(&map).map_err(|e| Failure::Usage(e.to_string()))?;
    let endpoint = args
        .endpoint
        .clone()
        .or_else(|| {
            std::env::var(crate::sql::ENDPOINT_ENV)
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| options.endpoint.clone())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "say where to write: --endpoint URL (or {}, or -o endpoint=URL)",
                crate::sql::ENDPOINT_ENV
            ))
        })?;
    let credentials = match &options.credentials {
        Some(c) => c.clone(),
        None => Credentials::from_env()
            .map_err(|e| Failure::Usage(format!("--endpoint needs an AccessKey: {e}")))?,
    };
    let client = Client::new(&endpoint, credentials).map_err(|e| Failure::Usage(e.to_string()))?;
    if args.operation.is_none() {
        let info = client
            .describe_table(&options.project, &options.table)
            .await
            .map_err(run_err)?;
        if info.kind == "delta" {
            options.operation = Operation::Upsert;
        }
    }

    // Inputs and the job id.
    let inputs: Vec<Input> = match args.source {
        SourceArg::Datagen => {
            if !args.files.is_empty() {
                return Err(Failure::Usage(
                    "--source datagen reads no FILES".to_string(),
                ));
            }
            Vec::new()
        }
        SourceArg::Files => {
            if args.files.is_empty() {
                return Err(Failure::Usage(
                    "give FILES to read, '-' for standard input, or --source datagen".to_string(),
                ));
            }
            let mut inputs = Vec::new();
            for f in &args.files {
                if f.as_os_str() == "-" {
                    if inputs.iter().any(|i| matches!(i, Input::Stdin)) {
                        return Err(Failure::Usage("'-' is given twice".to_string()));
                    }
                    inputs.push(Input::Stdin);
                } else {
                    let abs = std::fs::canonicalize(f)
                        .map_err(|e| Failure::Run(format!("{}: {e}", f.display())))?;
                    inputs.push(Input::File(abs));
                }
            }
            inputs
        }
    };
    let format = match (args.format, args.files.first()) {
        (Some(FormatArg::Csv), _) => Format::Csv,
        (Some(FormatArg::Ndjson), _) => Format::Ndjson,
        (None, Some(f)) if f.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) => {
            Format::Csv
        }
        (None, _) => Format::Ndjson,
    };
    let mut described = vec![
        endpoint.clone(),
        options.project.clone(),
        options.table.clone(),
        options.operation.name().to_string(),
        format!("{format:?}"),
        format!("{:?}", args.source),
    ];
    described.extend(inputs.iter().map(Input::name));
    if let Some(max) = args.max_rows {
        described.push(format!("max-rows={max}"));
    }
    let inputs_print = fingerprint(&described);
    let job_id = args
        .job_id
        .clone()
        .unwrap_or_else(|| format!("ingest-{}-{inputs_print}", options.table));
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);

    let mut sink = Sink::open(client, options, &state_dir, &job_id)
        .await
        .map_err(run_err)?;
    let mut pos: Position = match sink.resume_position() {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            Failure::Run(format!(
                "job '{job_id}': the stored position is not one of tidewater ingest: {e}"
            ))
        })?,
        None => Position {
            inputs: inputs_print.clone(),
            ..Position::default()
        },
    };
    if pos.inputs != inputs_print {
        return Err(Failure::Usage(format!(
            "job '{job_id}' was started with other inputs or options; resume it with the same command line, or use another --job-id"
        )));
    }
    let resumed = sink.last_checkpoint().cloned();

    // The dead-letter file: cut back to what the last checkpoint covered.
    let dead_letter_path = args
        .dead_letter
        .clone()
        .unwrap_or_else(|| state_dir.join(format!("{job_id}.dead-letter.ndjson")));
    let mut dead_letter = if args.on_error == OnError::Skip {
        Some(DeadLetter::open(&dead_letter_path, &mut pos).map_err(run_err)?)
    } else {
        None
    };

    // The reader thread.
    let (tx, mut rx) = mpsc::channel::<Item>(4096);
    let reader = Reader {
        schema: sink.table().schema.clone(),
        tx,
        pos: pos.clone(),
    };
    let thread_inputs = inputs.clone();
    let max_rows = args.max_rows;
    let source = args.source;
    std::thread::spawn(move || match source {
        SourceArg::Datagen => reader.datagen(max_rows),
        SourceArg::Files => reader.files(&thread_inputs, format),
    });

    let total_bytes: Option<u64> = match source {
        SourceArg::Files if !inputs.iter().any(|i| matches!(i, Input::Stdin)) => Some(
            inputs
                .iter()
                .filter_map(|i| match i {
                    Input::File(p) => std::fs::metadata(p).ok().map(|m| m.len()),
                    Input::Stdin => None,
                })
                .sum(),
        ),
        _ => None,
    };
    let mut progress = Progress::new(std::io::stderr().is_terminal(), total_bytes, &pos);
    if let Some(last) = &resumed {
        progress.committed(last, &pos);
        if std::io::stderr().is_terminal() {
            progress.println(format!(
                "resuming job {job_id} after checkpoint {} ({} records read)",
                last.checkpoint, pos.records
            ));
        }
    }

    let rate = args.rows_per_second.or(match source {
        SourceArg::Datagen => Some(1000),
        SourceArg::Files => None,
    });
    let started = Instant::now();
    let start_records = pos.records;
    let mut ticker = tokio::time::interval(args.checkpoint_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut failure: Option<String> = None;
    let mut interrupted = false;
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some(item) = item else { break };
                match item {
                    Item::Fatal(reason) => {
                        failure = Some(reason);
                        break;
                    }
                    Item::Bad { at, reason, raw, pos: after } => {
                        if let Err(stop) = bad_record(&mut sink, &mut dead_letter, &mut pos, &at, &reason, raw, &mut progress).await {
                            failure = Some(stop);
                            break;
                        }
                        let keep = (pos.skipped, pos.dead_letter_len, pos.written);
                        pos = after;
                        (pos.skipped, pos.dead_letter_len, pos.written) = keep;
                    }
                    Item::Record { row, change, at, pos: after } => {
                        let mut result = sink.write(&row, change).await;
                        if let Err(SinkError::PartitionLimit { .. }) = &result {
                            // Commit what came before, then the row opens a new checkpoint.
                            checkpoint(&mut sink, &mut dead_letter, &pos, &mut progress).await.map_err(run_err)?;
                            result = sink.write(&row, change).await;
                        }
                        match result {
                            Ok(()) => {
                                let keep = (pos.skipped, pos.dead_letter_len, pos.written + 1);
                                pos = after;
                                (pos.skipped, pos.dead_letter_len, pos.written) = keep;
                            }
                            Err(e) if e.is_record_error() => {
                                let raw = Value::Object(row);
                                if let Err(stop) = bad_record(&mut sink, &mut dead_letter, &mut pos, &at, &e.to_string(), raw, &mut progress).await {
                                    failure = Some(stop);
                                    break;
                                }
                                let keep = (pos.skipped, pos.dead_letter_len, pos.written);
                                pos = after;
                                (pos.skipped, pos.dead_letter_len, pos.written) = keep;
                            }
                            Err(e) => return Err(run_err(format!("{at}: {e}"))),
                        }
                        progress.read(&pos);
                        if let Some(rate) = rate.filter(|r| *r > 0) {
                            let due = started + Duration::from_secs_f64((pos.records - start_records) as f64 / rate as f64);
                            let now = Instant::now();
                            if due > now + Duration::from_millis(2) {
                                tokio::time::sleep(due - now).await;
                            }
                        }
                    }
                }
            }
            _ = ticker.tick() => {
                checkpoint(&mut sink, &mut dead_letter, &pos, &mut progress).await.map_err(run_err)?;
            }
            _ = tokio::signal::ctrl_c() => {
                interrupted = true;
                break;
            }
        }
    }
    // Everything read so far (up to a bad record) is committed before stopping.
    let last = checkpoint(&mut sink, &mut dead_letter, &pos, &mut progress)
        .await
        .map_err(run_err)?;
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64().max(0.001);
    let mut summary = format!(
        "{} {} records into {}.{} ({} rows/s), checkpoint {}",
        if failure.is_some() || interrupted {
            "committed"
        } else {
            "ingested"
        },
        pos.written,
        sink.options().project,
        sink.options().table,
        ((pos.records - start_records) as f64 / elapsed).round(),
        last.checkpoint
    );
    if let Some(s) = last.snapshot_id {
        summary.push_str(&format!(", snapshot {s}"));
    }
    if pos.skipped > 0 {
        summary.push_str(&format!(
            "; {} bad records in {}",
            pos.skipped,
            dead_letter_path.display()
        ));
    }
    eprintln!("{summary}");
    if let Some(reason) = failure {
        return Err(Failure::Run(reason));
    }
    if interrupted {
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// A bad record: an error (fail mode) or a dead-letter line (skip mode).
async fn bad_record(
    _sink: &mut Sink,
    dead_letter: &mut Option<DeadLetter>,
    pos: &mut Position,
    at: &Location,
    reason: &str,
    raw: Value,
    progress: &mut Progress,
) -> Result<(), String> {
    let Some(dl) = dead_letter else {
        return Err(format!("{at}: {reason}"));
    };
    let line = json!({"file": at.file, "line": at.line, "reason": reason, "record": raw});
    dl.append(&line, pos).map_err(|e| e.to_string())?;
    pos.skipped += 1;
    progress.skipped(pos);
    Ok(())
}

/// Makes the dead-letter lines durable, then checkpoints the sink at `pos`.
async fn checkpoint(
    sink: &mut Sink,
    dead_letter: &mut Option<DeadLetter>,
    pos: &Position,
    progress: &mut Progress,
) -> Result<CheckpointRecord, String> {
    if let Some(dl) = dead_letter {
        dl.sync().map_err(|e| e.to_string())?;
    }
    let position = serde_json::to_value(pos).map_err(|e| e.to_string())?;
    if let Some(last) = sink.last_checkpoint()
        && sink.rows_in_checkpoint() == 0
        && last.position == position
    {
        // Nothing new since the last commit.
        return Ok(last.clone());
    }
    let record = sink.checkpoint(position).await.map_err(|e| e.to_string())?;
    progress.committed(&record, pos);
    Ok(record)
}

/// The dead-letter file of `--on-error skip`.
struct DeadLetter {
    path: PathBuf,
    file: File,
}

impl DeadLetter {
    /// Opens the file and cuts it to the length the resume position recorded.
    fn open(path: &Path, pos: &mut Position) -> std::io::Result<DeadLetter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        if len > pos.dead_letter_len {
            // Lines of an interrupted run after its last checkpoint: they are read again.
            file.set_len(pos.dead_letter_len)?;
            file.sync_all()?;
        } else {
            pos.dead_letter_len = len;
        }
        Ok(DeadLetter {
            path: path.to_path_buf(),
            file,
        })
    }

    fn append(&mut self, line: &Value, pos: &mut Position) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        use std::io::Seek;
        self.file
            .seek(std::io::SeekFrom::Start(pos.dead_letter_len))?;
        self.file.write_all(&bytes)?;
        pos.dead_letter_len += bytes.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        self.file
            .sync_data()
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(
            fingerprint(&["a".into(), "b".into()]),
            fingerprint(&["a".into(), "b".into()])
        );
        assert_ne!(
            fingerprint(&["ab".into()]),
            fingerprint(&["a".into(), "b".into()])
        );
    }

    #[test]
    fn the_dead_letter_file_is_cut_back_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.ndjson");
        let mut pos = Position::default();
        let mut dl = DeadLetter::open(&path, &mut pos).unwrap();
        dl.append(&json!({"a": 1}), &mut pos).unwrap();
        let committed = pos.clone();
        dl.append(&json!({"a": 2}), &mut pos).unwrap();
        drop(dl);
        let mut resumed = committed.clone();
        DeadLetter::open(&path, &mut resumed).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        assert_eq!(resumed, committed);
    }
}
