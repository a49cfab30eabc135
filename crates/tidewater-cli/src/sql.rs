//! `tidewater sql`: run SQL statements against a warehouse.
//!
//! ```text
//! tidewater sql --warehouse DIR -e "CREATE TABLE …; INSERT …; SELECT …"   statements, in order
//! tidewater sql --warehouse DIR -f script.sql                              a file (`-` = stdin)
//! tidewater sql --warehouse DIR                                            interactive shell
//! ```
//!
//! Result sets go to standard output in `--format table|csv|json` (table by default; csv is a
//! header line and one line per row, booleans `true`/`false`, NULL empty; json is one object per
//! line). What other statements did ("created table …", "upserted 1 row(s) …") goes to standard
//! error, so standard output holds only data.
//!
//! Scripts (`-e`, `-f`, or statements piped on standard input) stop at the first failing
//! statement: it is printed with the reason on standard error and the exit code is 1. The
//! interactive shell keeps a history (`~/.tidewater_history`), reads a statement over several
//! lines until a `;` ends it, reports errors and goes on; `exit`, `quit` or Ctrl-D leave it.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tidewater_engine::Warehouse;
use tidewater_sql::{OutputFormat, SqlEngine, format::write_output, is_complete, split_statements};

/// How result sets are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table (NULL printed as NULL).
    Table,
    /// A header line, then one line per row (NULL empty).
    Csv,
    /// One JSON object per row.
    Json,
}

impl From<Format> for OutputFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => OutputFormat::Table,
            Format::Csv => OutputFormat::Csv,
            Format::Json => OutputFormat::Json,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SqlArgs {
    /// The warehouse: a directory, or a URL (file://, memory://, s3://).
    #[arg(long, env = "TIDEWATER_WAREHOUSE")]
    pub warehouse: String,

    /// Statements to run, separated by ';'.
    #[arg(
        short = 'e',
        long = "execute",
        value_name = "SQL",
        conflicts_with = "file"
    )]
    pub execute: Option<String>,

    /// A file of statements to run ('-' reads standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// How result sets are printed.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,

    /// The project unqualified table names refer to at the start.
    #[arg(long, default_value = tidewater_engine::DEFAULT_PROJECT)]
    pub project: String,
}

/// Runs `tidewater sql` on a new Tokio runtime (for a synchronous `main`).
pub fn run_blocking(args: SqlArgs) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => {
            eprintln!("tidewater sql: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(args: SqlArgs) -> ExitCode {
    let warehouse = match Warehouse::open(&args.warehouse).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("tidewater sql: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = SqlEngine::new(warehouse);
    if args.project != tidewater_engine::DEFAULT_PROJECT
        && let Err(e) = engine.run(&format!("USE {}", args.project)).await
    {
        eprintln!("tidewater sql: {e}");
        return ExitCode::FAILURE;
    }
    let format = OutputFormat::from(args.format);
    let script = match (&args.execute, &args.file) {
        (Some(sql), _) => Some(sql.clone()),
        (None, Some(path)) if path.as_os_str() == "-" => match read_stdin() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("tidewater sql: cannot read standard input: {e}");
                return ExitCode::FAILURE;
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("tidewater sql: cannot read '{}': {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        (None, None) if !std::io::stdin().is_terminal() => match read_stdin() {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("tidewater sql: cannot read standard input: {e}");
                return ExitCode::FAILURE;
            }
        },
        (None, None) => None,
    };
    match script {
        Some(sql) => run_script(&engine, &sql, format).await,
        None => shell(engine, format).await,
    }
}

fn read_stdin() -> std::io::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s)
}

/// Runs one statement and prints its output; `Err` carries the message to show.
async fn run_one(engine: &SqlEngine, statement: &str, format: OutputFormat) -> Result<(), String> {
    let output = engine.run(statement).await.map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut messages = stderr.lock();
    write_output(&mut out, &mut messages, format, output)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn report(n: usize, statement: &str, reason: &str) {
    eprintln!("error: {reason}");
    eprintln!("  in statement {n}: {statement}");
}

async fn run_script(engine: &SqlEngine, sql: &str, format: OutputFormat) -> ExitCode {
    let statements = match split_statements(sql) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (i, statement) in statements.iter().enumerate() {
        if let Err(reason) = run_one(engine, statement, format).await {
            report(i + 1, statement, &reason);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tidewater_history"))
}

async fn shell(engine: SqlEngine, format: OutputFormat) -> ExitCode {
    let mut editor = match rustyline::DefaultEditor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("tidewater sql: cannot start the shell: {e}");
            return ExitCode::FAILURE;
        }
    };
    let history = history_path();
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    eprintln!(
        "tidewater sql on {} — end statements with ';', leave with exit or Ctrl-D",
        engine.warehouse().location()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            format!("tidewater:{}> ", engine.current_project())
        } else {
            "    -> ".to_string()
        };
        // Line editing blocks: keep it off the async workers.
        let (ed, line) = match tokio::task::spawn_blocking(move || {
            let line = editor.readline(&prompt);
            (editor, line)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("tidewater sql: the line editor failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        editor = ed;
        match line {
            Ok(line) => {
                let trimmed = line.trim().trim_end_matches(';');
                if buffer.is_empty()
                    && ["exit", "quit", "\\q"].contains(&trimmed.to_ascii_lowercase().as_str())
                {
                    break;
                }
                if !buffer.is_empty() {
                    buffer.push('\n');
                }
                buffer.push_str(&line);
                if buffer.trim().is_empty() {
                    buffer.clear();
                    continue;
                }
                if !is_complete(&buffer) {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.as_str());
                match split_statements(&buffer) {
                    Ok(statements) => {
                        for (i, s) in statements.iter().enumerate() {
                            if let Err(reason) = run_one(&engine, s, format).await {
                                report(i + 1, s, &reason);
                                break;
                            }
                        }
                    }
                    Err(e) => eprintln!("error: {e}"),
                }
                let _ = std::io::stdout().flush();
                buffer.clear();
            }
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buffer.clear();
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("tidewater sql: {e}");
                break;
            }
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SqlArgs,
    }

    #[test]
    fn options_parse() {
        let cli = Cli::try_parse_from([
            "sql",
            "--warehouse",
            "/tmp/w",
            "--format",
            "csv",
            "-e",
            "SELECT 1",
        ])
        .unwrap();
        assert_eq!(cli.args.format, Format::Csv);
        assert_eq!(cli.args.execute.as_deref(), Some("SELECT 1"));
        assert!(
            Cli::try_parse_from(["sql", "--warehouse", "w", "-e", "x", "-f", "y"]).is_err(),
            "-e and -f exclude each other"
        );
    }
}
