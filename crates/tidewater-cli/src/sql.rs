//! `tidewater sql`: run SQL statements against a warehouse, or a Tunnel server.
//!
//! ```text
//! tidewater sql --warehouse DIR -e "CREATE TABLE …; INSERT …; SELECT …"   statements, in order
//! tidewater sql --warehouse DIR -f script.sql                              a file (`-` = stdin)
//! tidewater sql --warehouse DIR                                            interactive shell
//! tidewater sql --endpoint http://127.0.0.1:8470 -e "SELECT …"             the same, on a server
//! ```
//!
//! Where statements run: `--warehouse` opens the warehouse in this process (the embedded engine);
//! `--endpoint` sends each statement to a `tidewater serve` with `POST /v1/sql`, signed with the
//! AccessKey of `TIDEWATER_ACCESS_ID` / `TIDEWATER_ACCESS_KEY`. Exactly one of the two is
//! given; without either flag, `TIDEWATER_WAREHOUSE` or `TIDEWATER_ENDPOINT` (one of them) is
//! used. Remote statements run one at a time, each in the current project: `--project` at the
//! start, then the project of the last successful `USE name` (the server checks it exists and may
//! be used; the shell remembers it, since the server keeps no state between requests).
//!
//! Result sets go to standard output in `--format table|csv|json` (table by default; csv is a
//! header line and one line per row, booleans `true`/`false`, NULL empty; json is one object per
//! line). What other statements did ("created table …", "upserted 1 row(s) …") goes to standard
//! error, so standard output holds only data. Both modes print through the same function
//! ([`print_output`]), so their output is the same byte for byte.
//!
//! Scripts (`-e`, `-f`, or statements piped on standard input) stop at the first failing
//! statement: it is printed with the reason on standard error and the exit code is 1. The
//! interactive shell keeps a history (`~/.tidewater_history`), reads a statement over several
//! lines until a `;` ends it, reports errors and goes on; `exit`, `quit` or Ctrl-D leave it.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use tidewater_client::{Client, Credentials, SqlOutput};
use tidewater_engine::Warehouse;
use tidewater_sql::{
    OutputFormat, SqlEngine, StatementOutput, format::write_output, is_complete, split_statements,
};

/// Environment variable naming the warehouse when neither `--warehouse` nor `--endpoint` is given.
pub const WAREHOUSE_ENV: &str = "TIDEWATER_WAREHOUSE";
/// Environment variable naming the server when neither `--warehouse` nor `--endpoint` is given.
pub const ENDPOINT_ENV: &str = "TIDEWATER_ENDPOINT";

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
    /// The warehouse, opened in this process: a directory, or a URL (file://, memory://, s3://)
    /// [env: TIDEWATER_WAREHOUSE when --endpoint is not given either].
    #[arg(long, conflicts_with = "endpoint")]
    pub warehouse: Option<String>,

    /// A Tunnel server to run the statements on, e.g. http://127.0.0.1:8470; credentials from
    /// TIDEWATER_ACCESS_ID / TIDEWATER_ACCESS_KEY [env: TIDEWATER_ENDPOINT when --warehouse is
    /// not given either].
    #[arg(long)]
    pub endpoint: Option<String>,

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

/// Where statements run, as the options and the environment say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Warehouse(String),
    Endpoint(String),
}

impl SqlArgs {
    /// The flag if one is given (clap keeps them exclusive), else the one environment variable
    /// set; `Err` is the usage error to print.
    pub fn target(&self, env: impl Fn(&str) -> Option<String>) -> Result<Target, String> {
        match (&self.warehouse, &self.endpoint) {
            (Some(w), _) => return Ok(Target::Warehouse(w.clone())),
            (None, Some(e)) => return Ok(Target::Endpoint(e.clone())),
            (None, None) => {}
        }
        let get = |var: &str| env(var).filter(|v| !v.is_empty());
        match (get(WAREHOUSE_ENV), get(ENDPOINT_ENV)) {
            (Some(w), None) => Ok(Target::Warehouse(w)),
            (None, Some(e)) => Ok(Target::Endpoint(e)),
            (Some(_), Some(_)) => Err(format!(
                "both {WAREHOUSE_ENV} and {ENDPOINT_ENV} are set: pass --warehouse or --endpoint"
            )),
            (None, None) => Err(format!(
                "say where to run: --warehouse DIR or --endpoint URL (or set {WAREHOUSE_ENV} or {ENDPOINT_ENV})"
            )),
        }
    }
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

/// What runs the statements: the engine in this process, or a server.
enum Backend {
    Embedded(SqlEngine),
    Remote {
        client: Client,
        /// The project statements run in; `USE name` changes it once the server accepted it.
        project: String,
    },
}

impl Backend {
    async fn open(target: Target, project: &str) -> Result<Backend, String> {
        match target {
            Target::Warehouse(location) => {
                let warehouse = Warehouse::open(&location)
                    .await
                    .map_err(|e| e.to_string())?;
                let engine = SqlEngine::new(warehouse);
                if project != tidewater_engine::DEFAULT_PROJECT {
                    engine
                        .run(&format!("USE {project}"))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(Backend::Embedded(engine))
            }
            Target::Endpoint(endpoint) => {
                let credentials = Credentials::from_env()
                    .map_err(|e| format!("--endpoint needs an AccessKey: {e}"))?;
                let client = Client::new(endpoint, credentials).map_err(|e| e.to_string())?;
                let mut backend = Backend::Remote {
                    client,
                    project: tidewater_engine::DEFAULT_PROJECT.to_string(),
                };
                if project != tidewater_engine::DEFAULT_PROJECT {
                    backend.run(&format!("USE {project}")).await?;
                }
                Ok(backend)
            }
        }
    }

    /// Where statements run, for the shell's banner.
    fn location(&self) -> String {
        match self {
            Backend::Embedded(engine) => engine.warehouse().location().to_string(),
            Backend::Remote { client, .. } => client.endpoint().to_string(),
        }
    }

    fn current_project(&self) -> String {
        match self {
            Backend::Embedded(engine) => engine.current_project(),
            Backend::Remote { project, .. } => project.clone(),
        }
    }

    /// Runs one statement; `Err` carries the message to show.
    async fn run(&mut self, statement: &str) -> Result<StatementOutput, String> {
        match self {
            Backend::Embedded(engine) => engine.run(statement).await.map_err(|e| e.to_string()),
            Backend::Remote { client, project } => {
                let output = client.sql(project, statement).await.map_err(|e| match e {
                    // The server's reason alone, as the embedded engine would say it.
                    tidewater_client::Error::Api { message, .. } => message,
                    e => e.to_string(),
                })?;
                if let Some(next) = use_target(statement) {
                    *project = next;
                }
                Ok(statement_output(output))
            }
        }
    }
}

/// The project of a `USE name` statement (a bare or back-quoted name), `None` for anything else.
fn use_target(statement: &str) -> Option<String> {
    let s = statement.trim().trim_end_matches(';').trim_end();
    let (keyword, rest) = s.split_once(char::is_whitespace)?;
    if !keyword.eq_ignore_ascii_case("use") {
        return None;
    }
    let name = rest.trim();
    let name = name
        .strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .unwrap_or(name);
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then(|| name.to_string())
}

/// A server's answer as a statement output, so both modes print through [`print_output`].
fn statement_output(output: SqlOutput) -> StatementOutput {
    match output {
        SqlOutput::Done { message, rows } => StatementOutput::Done { message, rows },
        SqlOutput::Rows { schema, batches } => StatementOutput::rows(schema, batches),
    }
}

/// Prints a statement's output: result sets on standard output in `format`, what other
/// statements did on standard error. `Err` carries the message to show.
async fn print_output(output: StatementOutput, format: OutputFormat) -> Result<(), String> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut messages = stderr.lock();
    write_output(&mut out, &mut messages, format, output)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

pub async fn run(args: SqlArgs) -> ExitCode {
    let target = match args.target(|var| std::env::var(var).ok()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("tidewater sql: {e}");
            return ExitCode::from(2);
        }
    };
    let mut backend = match Backend::open(target, &args.project).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("tidewater sql: {e}");
            return ExitCode::FAILURE;
        }
    };
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
        Some(sql) => run_script(&mut backend, &sql, format).await,
        None => shell(backend, format).await,
    }
}

fn read_stdin() -> std::io::Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s)
}

/// Runs one statement and prints its output; `Err` carries the message to show.
async fn run_one(
    backend: &mut Backend,
    statement: &str,
    format: OutputFormat,
) -> Result<(), String> {
    let output = backend.run(statement).await?;
    print_output(output, format).await
}

fn report(n: usize, statement: &str, reason: &str) {
    eprintln!("error: {reason}");
    eprintln!("  in statement {n}: {statement}");
}

async fn run_script(backend: &mut Backend, sql: &str, format: OutputFormat) -> ExitCode {
    let statements = match split_statements(sql) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    for (i, statement) in statements.iter().enumerate() {
        if let Err(reason) = run_one(backend, statement, format).await {
            report(i + 1, statement, &reason);
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tidewater_history"))
}

async fn shell(mut backend: Backend, format: OutputFormat) -> ExitCode {
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
        backend.location()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            format!("tidewater:{}> ", backend.current_project())
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
                            if let Err(reason) = run_one(&mut backend, s, format).await {
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
        assert!(
            Cli::try_parse_from(["sql", "--warehouse", "w", "--endpoint", "http://h:1"]).is_err(),
            "--warehouse and --endpoint exclude each other"
        );
    }

    fn parse(args: &[&str]) -> SqlArgs {
        let mut all = vec!["sql"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).unwrap().args
    }

    #[test]
    fn a_flag_wins_over_the_environment_and_one_variable_is_needed_otherwise() {
        let both = |var: &str| Some(format!("from {var}"));
        let none = |_: &str| None;
        let endpoint_only = |var: &str| (var == ENDPOINT_ENV).then(|| "http://h:1".to_string());
        assert_eq!(
            parse(&["--endpoint", "http://x:2"]).target(both),
            Ok(Target::Endpoint("http://x:2".into()))
        );
        assert_eq!(
            parse(&["--warehouse", "w"]).target(both),
            Ok(Target::Warehouse("w".into()))
        );
        assert_eq!(
            parse(&[]).target(endpoint_only),
            Ok(Target::Endpoint("http://h:1".into()))
        );
        assert!(parse(&[]).target(both).unwrap_err().contains("both"));
        assert!(parse(&[]).target(none).unwrap_err().contains("--endpoint"));
    }

    #[test]
    fn use_statements_name_the_next_project() {
        assert_eq!(use_target("USE p1"), Some("p1".into()));
        assert_eq!(use_target("  use `my_proj` ;"), Some("my_proj".into()));
        assert_eq!(use_target("USE"), None);
        assert_eq!(use_target("USER x"), None);
        assert_eq!(use_target("SELECT 1"), None);
        assert_eq!(use_target("USE a b"), None);
    }
}
