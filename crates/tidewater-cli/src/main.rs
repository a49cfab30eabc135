//! # tidewater — the command
//!
//! | module | concept |
//! |---|---|
//! | [`bench`] | `tidewater bench`: the `BENCHMARK.md` workload, timed and checked |
//! | [`ingest`] | `tidewater ingest`: files, stdin or datagen into a table, checkpointed, exactly once |
//! | [`serve`] | `tidewater serve`: the Tunnel server |
//! | [`sql`] | `tidewater sql`: statements, scripts and an interactive shell |
//! | [`user`] | `tidewater user`: AccessKey users and grants |
//! | [`table`] | `tidewater table`: compact, expire, vacuum |
//! | [`error`] | errors of the command and their exit codes |
//!
//! One subcommand per job; each lives in its own module with a clap `Args` struct and a `run`
//! function, and `main` only dispatches.
//! Exit codes: 0 success, 1 failure (or a benchmark answer that was wrong), 2 usage errors.

mod bench;
mod error;
mod ingest;
mod serve;
mod sql;
mod table;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tidewater: a MaxCompute-compatible Delta table store.
#[derive(Debug, Parser)]
#[command(name = "tidewater", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the Tunnel HTTP API on a warehouse (./warehouse on 127.0.0.1:8470 by default).
    Serve(serve::ServeArgs),
    /// Run the upsert-stream benchmark workload (BENCHMARK.md) and check every answer.
    Bench(bench::BenchArgs),
    /// Run SQL statements against a warehouse (scripts, or an interactive shell).
    Sql(sql::SqlArgs),
    /// Manage AccessKey users and their per-project grants.
    User(user::UserArgs),
    /// Stream NDJSON/CSV files, stdin or generated rows into a table, exactly once (resumable).
    Ingest(ingest::IngestArgs),
    /// Table maintenance: compact, expire snapshots, vacuum orphan files.
    Table(table::TableArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => return serve::run_blocking(args),
        Command::Sql(args) => return sql::run_blocking(args),
        Command::User(args) => return user::run_blocking(args),
        Command::Ingest(args) => return ingest::run_blocking(args),
        Command::Table(args) => return table::run_blocking(args),
        Command::Bench(args) => bench::run(&args).map(|correct| {
            if correct {
                ExitCode::SUCCESS
            } else {
                eprintln!("tidewater bench: wrong answers, the run has no score");
                ExitCode::FAILURE
            }
        }),
    };
    result.unwrap_or_else(|e| {
        eprintln!("tidewater: {e}");
        ExitCode::from(e.exit_code())
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn quick_sizes_are_overridden_by_explicit_options() {
        let cli = Cli::try_parse_from(["tidewater", "bench", "--quick", "--rows", "5000"]).unwrap();
        let Command::Bench(args) = cli.command else {
            panic!("parsed as bench");
        };
        let size = args.size();
        assert_eq!(size.rows, 5000);
        assert_eq!(size.commits, bench::workload::WorkloadSize::QUICK.commits);
    }
}
