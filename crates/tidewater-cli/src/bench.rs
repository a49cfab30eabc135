//! `tidewater bench`: the "upsert-stream" workload of `BENCHMARK.md`, timed and checked.
//!
//! | module | concept |
//! |---|---|
//! | [`workload`] | sizes, the deterministic data of every commit, the model and its answers |
//! | [`measure`] | phases A, B and C, timed, and the checks of every answer against the model |
//! | [`embedded`] | the engine in this process as a measured target |
//! | [`served`] | a Tunnel server (started as a child process, or `--endpoint`) through the SDK |
//! | [`resources`] | peak memory, bytes and files on disk |
//! | [`report`] | the one JSON object (`--json`) or the readable table |
//! | [`export`] | `--export DIR`: the generated data and the model's answers, for the peers of `bench/run.sh` |
//! | [`history`] | files and sorted runs per bucket over the run, compactions, write amplification |
//! | [`compaction`] | embedded: a major compaction at the end, reads again and on one Parquet file |
//!
//! Flow: parse the size → generate all data and the expected answers (untimed) → open the
//! warehouse (embedded) or start/connect to the server (served) and create the table → phase A
//! → phase B → phase C and the checks → measure memory and disk → report. Both modes run the
//! same phases and checks ([`measure`]); only the target differs. A run whose answers differ from the model reports `"correct": false` and
//! exits non-zero: a fast wrong answer has no score. Progress goes to stderr, the report alone to
//! stdout.

pub mod compaction;
pub mod embedded;
pub mod export;
pub mod history;
pub mod measure;
pub mod report;
pub mod resources;
pub mod served;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use snafu::{ResultExt, ensure};
use tidewater_engine::{DEFAULT_PROJECT, Warehouse};
use tidewater_server::config::MaintenanceConfig;
use tidewater_server::maintenance::{self, Maintenance};
use tokio::sync::watch;

use crate::error::{EngineSnafu, InvalidParamsSnafu, IoSnafu, Result};
use embedded::Embedded;
use measure::Measured;
use report::{Report, RunContext};
use workload::{Workload, WorkloadSize};

/// Name of the table the workload writes.
pub const TABLE: &str = "upsert_stream";

/// Where the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// The engine in this process.
    Embedded,
    /// A client writing through the Tunnel server in another process (started by the run, or
    /// --endpoint).
    Served,
}

/// Whether background compaction runs during the write phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compaction {
    /// The maintenance service compacts after commits, as `tidewater serve` does by default
    /// (embedded: the same service, in this process).
    Auto,
    /// No compaction while writing (served: the server runs with `--no-maintenance`).
    Off,
}

impl Compaction {
    fn name(self) -> &'static str {
        match self {
            Compaction::Auto => "auto",
            Compaction::Off => "off",
        }
    }
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Embedded => "embedded",
            Mode::Served => "served",
        }
    }
}

/// Options of `tidewater bench`. Sizes default to `BENCHMARK.md`'s default size, or with
/// `--quick` to a small one; any size option given overrides either.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Where the engine runs.
    #[arg(long, value_enum, default_value = "embedded")]
    pub mode: Mode,
    /// Print exactly one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Warehouse directory to write into (kept afterwards); default: a temporary directory.
    /// Served mode: the warehouse of the server the run starts.
    #[arg(long, value_name = "DIR", conflicts_with = "endpoint")]
    pub warehouse: Option<PathBuf>,
    /// Served mode: a running server to write to instead of starting one (credentials from
    /// TIDEWATER_ACCESS_ID / TIDEWATER_ACCESS_KEY; bytes on disk and its memory are not measured).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Phase A rows, ids 0..N [default: 2000000; quick: 100000].
    #[arg(long, value_name = "N")]
    pub rows: Option<u64>,
    /// Phase A commits the rows are spread over [default: 20; quick: 10].
    #[arg(long, value_name = "N")]
    pub commits: Option<u32>,
    /// Phase B commits [default: 50; quick: 10].
    #[arg(long, value_name = "N")]
    pub stream_commits: Option<u32>,
    /// Phase B upserts per commit, a fifth of them new ids [default: 20000; quick: 2000].
    #[arg(long, value_name = "N")]
    pub stream_upserts: Option<u32>,
    /// Phase B deletes per commit [default: 200; quick: 50].
    #[arg(long, value_name = "N")]
    pub stream_deletes: Option<u32>,
    /// Background compaction during phases A and B. The history of files per bucket and the
    /// write amplification are reported either way (`stream_history`).
    #[arg(long, value_enum, default_value = "auto")]
    pub compaction: Compaction,
    /// A table property of the bench table, e.g. `num-sorted-run.stop-trigger=12`
    /// (repeatable; validated as by `CREATE TABLE`).
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
    /// Hash buckets of the table [default: 4].
    #[arg(long, value_name = "N")]
    pub buckets: Option<u32>,
    /// Seed of the generated data [default: 42].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// A small size that runs in seconds (100000 rows in 10 commits, 10 stream commits of
    /// 2000 upserts and 50 deletes).
    #[arg(long)]
    pub quick: bool,
    /// Keep the temporary warehouse and print where it is.
    #[arg(long)]
    pub keep: bool,
    /// Write the generated data (Arrow IPC, one file per commit) and the model's answers
    /// (`expected.json`) into DIR and stop without running anything: the input of the peers
    /// of `bench/run.sh`.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["endpoint", "warehouse", "keep"])]
    pub export: Option<PathBuf>,
    /// Testing the checker: perturb the expected count so the run must report wrong answers.
    #[arg(long, hide = true)]
    pub inject_wrong_expectation: bool,
    /// Profiling: print `phase-mark <phase> <begin|end> <unix s.ns> rss_mb=… peak_rss_mb=…`
    /// lines on stderr, to cut a `perf record -k CLOCK_REALTIME` profile into phases
    /// (`perf report --time <begin>,<end>`) and see which phase holds the memory.
    #[arg(long, hide = true)]
    pub phase_marks: bool,
}

static PHASE_MARKS: AtomicBool = AtomicBool::new(false);

/// Prints a phase mark when `--phase-marks` is on.
pub(crate) fn phase_mark(phase: &str, edge: &str) {
    if PHASE_MARKS.load(Ordering::Relaxed) {
        let ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mb = |f| resources::proc_status_mb(f).unwrap_or(f64::NAN);
        eprintln!(
            "phase-mark {phase} {edge} {}.{:09} rss_mb={:.0} peak_rss_mb={:.0}",
            ns / 1_000_000_000,
            ns % 1_000_000_000,
            mb("VmRSS"),
            mb("VmHWM")
        );
    }
}

impl BenchArgs {
    /// `--property KEY=VALUE` options as a map (checked by the table's creation).
    fn table_properties(&self) -> Result<BTreeMap<String, String>> {
        self.properties
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => InvalidParamsSnafu {
                    reason: format!("--property '{p}' is not KEY=VALUE"),
                }
                .fail(),
            })
            .collect()
    }

    /// The workload size these options describe.
    pub fn size(&self) -> WorkloadSize {
        let base = if self.quick {
            WorkloadSize::QUICK
        } else {
            WorkloadSize::DEFAULT
        };
        WorkloadSize {
            rows: self.rows.unwrap_or(base.rows),
            commits: self.commits.unwrap_or(base.commits),
            stream_commits: self.stream_commits.unwrap_or(base.stream_commits),
            stream_upserts: self.stream_upserts.unwrap_or(base.stream_upserts),
            stream_deletes: self.stream_deletes.unwrap_or(base.stream_deletes),
            buckets: self.buckets.unwrap_or(base.buckets),
            seed: self.seed.unwrap_or(base.seed),
        }
    }
}

/// Runs the benchmark and prints its report. `Ok(false)` when an answer was wrong.
pub fn run(args: &BenchArgs) -> Result<bool> {
    ensure!(
        args.endpoint.is_none() || args.mode == Mode::Served,
        InvalidParamsSnafu {
            reason: "--endpoint needs --mode served",
        }
    );
    let size = args.size();
    size.validate()?;
    let properties = args.table_properties()?;
    // Checked before the data is generated.
    workload::table_properties(size.buckets, &properties)?;
    PHASE_MARKS.store(args.phase_marks, Ordering::Relaxed);

    eprintln!(
        "generating: {} rows in {} commits, {} stream commits of {} upserts ({} new) + {} deletes, seed {}",
        size.rows,
        size.commits,
        size.stream_commits,
        size.stream_upserts,
        size.stream_new(),
        size.stream_deletes,
        size.seed
    );
    let t = Instant::now();
    let mut workload = Workload::generate(&size)?;
    if args.inject_wrong_expectation {
        workload.expected.count += 1;
    }
    let generate_s = t.elapsed().as_secs_f64();
    eprintln!("generated in {generate_s:.2} s");
    if let Some(dir) = &args.export {
        export::export(&workload, dir)?;
        eprintln!("exported to {}", dir.display());
        return Ok(true);
    }

    // The warehouse: the given directory, or a temporary one; none behind --endpoint.
    let (dir, temp) = match (&args.warehouse, &args.endpoint) {
        (_, Some(_)) => (None, None),
        (Some(d), None) => (Some(d.clone()), None),
        (None, None) => {
            let t = tempfile::Builder::new()
                .prefix("tidewater-bench-")
                .tempdir()
                .context(IoSnafu {
                    op: "creating a temporary directory in",
                    path: std::env::temp_dir(),
                })?;
            (Some(t.path().to_path_buf()), Some(t))
        }
    };
    let location = match &dir {
        Some(dir) => Some(dir.to_str().map(str::to_string).ok_or_else(|| {
            InvalidParamsSnafu {
                reason: format!("--warehouse {} is not valid UTF-8", dir.display()),
            }
            .build()
        })?),
        None => None,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context(crate::error::RuntimeSnafu)?;
    let rss_after_generate_mb = resources::proc_status_mb("VmRSS");
    let expected = workload.expected.clone();
    let (measured, peak_rss_reset, server_peak_rss_mb) = match (args.mode, &location) {
        (Mode::Embedded, Some(location)) => {
            let peak_rss_reset = resources::reset_peak_rss();
            let m = runtime.block_on(run_embedded(
                location,
                workload,
                &properties,
                args.compaction,
            ))?;
            (m, peak_rss_reset, None)
        }
        (Mode::Embedded, None) => {
            return InvalidParamsSnafu {
                reason: "the embedded mode needs a warehouse",
            }
            .fail();
        }
        (Mode::Served, _) => {
            let _in_runtime = runtime.enter();
            let (client, server) = served::connect(
                args.endpoint.as_deref(),
                location.as_deref(),
                args.compaction == Compaction::Auto,
            )?;
            let peak_rss_reset = resources::reset_peak_rss();
            let m = runtime.block_on(run_served(client, workload, &properties))?;
            (
                m,
                peak_rss_reset,
                server.and_then(served::ServerProcess::stop),
            )
        }
    };
    let peak_rss_mb = resources::proc_status_mb("VmHWM");
    let mut measured = measured;
    if let (Mode::Served, Some(location)) = (args.mode, &location) {
        // The server has stopped; its warehouse holds the history.
        measured.stream_history = Some(runtime.block_on(served_history(location, size.commits))?);
    }
    drop(runtime);

    // A warehouse given as a URL (`memory://`, `s3://`) has no directory to measure.
    let disk = dir.as_ref().and_then(|dir| {
        match resources::disk_usage(&dir.join(DEFAULT_PROJECT).join(TABLE)) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("bytes on disk not measured: {e}");
                None
            }
        }
    });
    let kept = match temp {
        Some(t) if args.keep => {
            let p = t.keep();
            eprintln!("warehouse kept at {}", p.display());
            Some(p.display().to_string())
        }
        Some(t) => {
            let p = t.path().to_path_buf();
            t.close().context(IoSnafu {
                op: "removing the temporary warehouse",
                path: p,
            })?;
            None
        }
        None => location,
    };
    let report = Report::new(
        &size,
        &expected,
        &measured,
        RunContext {
            mode: args.mode.name(),
            compaction: args.compaction.name(),
            quick: args.quick,
            generate_s,
            rss_after_generate_mb,
            peak_rss_reset,
            peak_rss_mb,
            server_peak_rss_mb,
            disk,
            warehouse: kept,
        },
    );
    if args.json {
        println!("{}", report.to_json().context(crate::error::JsonSnafu)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(report.correct)
}

async fn run_embedded(
    location: &str,
    workload: Workload,
    properties: &BTreeMap<String, String>,
    compaction: Compaction,
) -> Result<Measured> {
    let size_commits = workload.size.commits;
    let warehouse = Warehouse::open(location).await.context(EngineSnafu {
        op: format!("opening the warehouse '{location}'"),
    })?;
    let exists = warehouse
        .table_exists(DEFAULT_PROJECT, TABLE)
        .await
        .context(EngineSnafu {
            op: "looking up the bench table",
        })?;
    ensure!(
        !exists,
        InvalidParamsSnafu {
            reason: format!(
                "the warehouse '{location}' already holds table {DEFAULT_PROJECT}.{TABLE}; use a new --warehouse directory"
            ),
        }
    );
    let table = warehouse
        .create_table(
            DEFAULT_PROJECT,
            TABLE,
            workload::table_schema()?,
            workload::table_properties(workload.size.buckets, properties)?,
            false,
        )
        .await
        .context(EngineSnafu {
            op: "creating the bench table",
        })?;
    let Workload {
        bulk,
        stream,
        expected,
        ..
    } = workload;
    let service = (compaction == Compaction::Auto).then(|| {
        let service = Arc::new(Maintenance::default());
        let (stop, stopped) = watch::channel(false);
        let config = MaintenanceConfig {
            // Expiry and vacuum have nothing to do within a run.
            retention_interval_secs: 24 * 3600,
            ..MaintenanceConfig::default()
        };
        let handle = maintenance::spawn(warehouse.clone(), service.clone(), config, stopped);
        (service, stop, handle)
    });
    let target = Embedded {
        table: table.clone(),
        maintenance: service.as_ref().map(|(s, _, _)| s.clone()),
    };
    let mut m = measure::run_writes(&target, bulk, stream).await?;
    if let Some((_, stop, handle)) = service {
        // Let the compaction under way finish, so phase C reads a settled table.
        let _ = stop.send(true);
        let _ = handle.await;
    }
    measure::phase_c(&target, &expected, &mut m).await?;
    let upto = table
        .latest_snapshot()
        .await
        .context(EngineSnafu {
            op: "reading the latest snapshot",
        })?
        .map_or(0, |s| s.id);
    m.stream_history = Some(history::stream_history(&table, size_commits, upto).await?);
    m.after_compaction = Some(compaction::after_major_compaction(&table, &expected, &mut m).await?);
    Ok(m)
}

async fn run_served(
    client: tidewater_client::Client,
    workload: Workload,
    properties: &BTreeMap<String, String>,
) -> Result<Measured> {
    let target = served::Served::create_table(client, workload.size.buckets, properties).await?;
    let Workload {
        bulk,
        stream,
        expected,
        ..
    } = workload;
    let mut m = measure::run_writes(&target, bulk, stream).await?;
    measure::phase_c(&target, &expected, &mut m).await?;
    Ok(m)
}

/// The history of the bench table in the warehouse a served run's server wrote.
async fn served_history(location: &str, bulk_commits: u32) -> Result<serde_json::Value> {
    let op = |op: &str| EngineSnafu { op: op.to_string() };
    let warehouse = Warehouse::open(location)
        .await
        .context(op("opening the served run's warehouse"))?;
    let table = warehouse
        .table(DEFAULT_PROJECT, TABLE)
        .await
        .context(op("opening the bench table"))?;
    history::stream_history(&table, bulk_commits, u64::MAX).await
}
