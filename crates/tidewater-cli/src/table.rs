//! `tidewater table`: maintenance of one table on a warehouse (what the server's background
//! service does automatically).
//!
//! ```text
//! tidewater table compact t [--major|--minor]      merge sorted runs (default: what the table needs)
//! tidewater table expire t [--dry-run]             expire snapshots older than acid.data.retain.hours
//! tidewater table vacuum t [--older-than 24h] [--dry-run]
//!                                                  expire abandoned sessions, delete orphan files
//! ```
//!
//! Tables are named `table` or `project.table` (project `default`).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use tidewater_engine::{CompactMode, Warehouse, now_ms};

#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// The warehouse: a directory, or a URL (file://, memory://, s3://).
    #[arg(long, env = "TIDEWATER_WAREHOUSE", default_value = "./warehouse")]
    pub warehouse: String,

    #[command(subcommand)]
    pub command: TableCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum TableCommand {
    /// Compact a Delta table: minor merges where buckets passed the sorted-run trigger (and a
    /// major compaction when upsert.major-compact.* says so), or --major / --minor.
    Compact {
        table: String,
        /// Rewrite every bucket into base files (newest row per key, no deletes).
        #[arg(long, conflicts_with = "minor")]
        major: bool,
        /// Merge the newest sorted runs of every bucket with two or more.
        #[arg(long)]
        minor: bool,
    },
    /// Expire snapshots older than the table's retention window (acid.data.retain.hours) and
    /// delete the files only they referenced.
    Expire {
        table: String,
        /// Report what would be expired, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Expire abandoned sessions and delete unreferenced files older than the safety window.
    Vacuum {
        table: String,
        /// Safety window: unreferenced files younger than this stay (e.g. 30m, 24h, 7d).
        #[arg(long, default_value = "24h", value_parser = parse_duration_ms)]
        older_than: i64,
        #[arg(long)]
        dry_run: bool,
    },
}

fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30m, 24h or 7d"))?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" | "" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use s, m, h or d)")),
    };
    Ok(n * ms)
}

pub fn run_blocking(args: TableArgs) -> ExitCode {
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tidewater table: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: TableArgs) -> Result<(), String> {
    let warehouse = Warehouse::open(&args.warehouse)
        .await
        .map_err(|e| e.to_string())?;
    let name = match &args.command {
        TableCommand::Compact { table, .. }
        | TableCommand::Expire { table, .. }
        | TableCommand::Vacuum { table, .. } => table.clone(),
    };
    let (project, table) = name
        .split_once('.')
        .unwrap_or((tidewater_engine::DEFAULT_PROJECT, name.as_str()));
    let t = warehouse
        .table(project, table)
        .await
        .map_err(|e| e.to_string())?;
    let err = |e: tidewater_engine::Error| format!("{name}: {e}");
    match args.command {
        TableCommand::Compact { major, minor, .. } => {
            let mode = match (major, minor) {
                (true, _) => CompactMode::Major,
                (_, true) => CompactMode::Minor,
                _ => CompactMode::Auto,
            };
            let r = t.compact(mode).run().await.map_err(err)?;
            match r.snapshot {
                Some(id) => println!(
                    "snapshot {id}: compacted {} bucket(s){}: {} files, {} bytes -> {} files, {} bytes ({} -> {} stored rows)",
                    r.buckets,
                    if r.major { " (major)" } else { "" },
                    r.files_in,
                    r.bytes_in,
                    r.files_out,
                    r.bytes_out,
                    r.rows_in,
                    r.rows_out
                ),
                None => println!("{name} needs no compaction"),
            }
        }
        TableCommand::Expire { dry_run, .. } => {
            let r = t.expire_snapshots(now_ms(), dry_run).await.map_err(err)?;
            let verb = if dry_run { "would expire" } else { "expired" };
            match (r.expired.first(), r.expired.last()) {
                (Some(a), Some(b)) => println!(
                    "{verb} snapshots {a}..={b}; {} manifests and {} data files ({} bytes) deleted{}",
                    r.manifests_deleted,
                    r.files_deleted,
                    r.bytes_deleted,
                    if dry_run { " (dry run: none)" } else { "" }
                ),
                _ => println!("no snapshot of {name} is older than its retention window"),
            }
        }
        TableCommand::Vacuum {
            older_than,
            dry_run,
            ..
        } => {
            let r = t.vacuum(now_ms(), older_than, dry_run).await.map_err(err)?;
            println!(
                "{}{} abandoned session(s) expired, {} finished session dir(s) removed, {} orphan data file(s) and {} manifest(s) deleted",
                if dry_run { "dry run: " } else { "" },
                r.sessions_expired,
                r.session_dirs_removed,
                r.files_deleted,
                r.manifests_deleted
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("30m"), Ok(1_800_000));
        assert_eq!(parse_duration_ms("24h"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("0s"), Ok(0));
        assert!(
            parse_duration_ms("3 weeks")
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
