//! Statement text: splitting scripts, and parsing the MaxCompute statements sqlparser does not
//! know (or knows differently).
//!
//! Everything is tokenized with sqlparser's tokenizer (generic dialect), so quoting, comments and
//! semicolons inside strings behave as in every other statement. Scripts are split at top-level
//! `;` into exact substrings of the input. The administrative statements — `CREATE TABLE` with
//! `PRIMARY KEY`, `PARTITIONED BY` and `TBLPROPERTIES`, `CREATE/DROP PROJECT`, `USE`, `DESC`,
//! `SHOW …`, `ALTER TABLE … COMPACT` and `ALTER TABLE … SET|UNSET TBLPROPERTIES` — are
//! parsed here by a small recursive-descent [`Cursor`]; queries and DML go to sqlparser after the
//! time-travel rewrite (`timetravel`).
//!
//! Names of projects, tables and columns are case-insensitive: they are lower-cased here, as
//! DataFusion lower-cases unquoted identifiers in queries.

use std::collections::BTreeMap;
use std::str::FromStr;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
use tidewater_format::{Column, DataType};

use crate::error::{Error, Result};

/// Tokens of a text, with their positions.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<TokenWithSpan>> {
    Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Error::syntax(e.to_string()))
}

fn is_blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::EOF)
}

/// Byte offset of a (1-based line, 1-based char column) position in `text`.
struct Offsets {
    line_starts: Vec<usize>,
}

impl Offsets {
    fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, c) in text.char_indices() {
            if c == '\n' {
                line_starts.push(i + 1);
            }
        }
        Offsets { line_starts }
    }

    fn of(&self, text: &str, line: u64, column: u64) -> usize {
        let Some(start) = self.line_starts.get(line.saturating_sub(1) as usize) else {
            return text.len();
        };
        text[*start..]
            .char_indices()
            .nth(column.saturating_sub(1) as usize)
            .map_or(text.len(), |(i, _)| start + i)
    }
}

/// Splits a script into statements at top-level `;`. Statements holding only whitespace and
/// comments are dropped; each statement is the exact text of the input, trimmed.
pub fn split_statements(sql: &str) -> Result<Vec<String>> {
    let tokens = tokenize(sql)?;
    let offsets = Offsets::new(sql);
    let mut out = Vec::new();
    let mut start = 0;
    let mut significant = false;
    for t in &tokens {
        if t.token == Token::SemiColon {
            let end = offsets.of(sql, t.span.start.line, t.span.start.column);
            if significant {
                out.push(sql[start..end].trim().to_string());
            }
            start = (end + 1).min(sql.len());
            significant = false;
        } else if !is_blank(&t.token) {
            significant = true;
        }
    }
    if significant {
        out.push(sql[start..].trim().to_string());
    }
    Ok(out)
}

/// Whether an interactive input is complete: it ends with a top-level `;` (comments and
/// whitespace may follow). An unterminated string or quoted name is incomplete.
pub fn is_complete(sql: &str) -> bool {
    let Ok(tokens) = tokenize(sql) else {
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| !is_blank(&t.token))
        .is_some_and(|t| t.token == Token::SemiColon)
}

/// A name as written: `t` or `project.t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectRef {
    pub project: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.project {
            Some(p) => write!(f, "{p}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// `CREATE TABLE`, as parsed.
#[derive(Debug, Clone)]
pub(crate) struct CreateTable {
    pub if_not_exists: bool,
    pub name: ObjectRef,
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    pub partition_columns: Vec<Column>,
    pub properties: BTreeMap<String, String>,
}

/// The statements parsed here; everything else goes to sqlparser.
#[derive(Debug, Clone)]
pub(crate) enum AdminStatement {
    CreateTable(CreateTable),
    DropTable {
        if_exists: bool,
        name: ObjectRef,
    },
    CreateProject {
        if_not_exists: bool,
        name: String,
    },
    DropProject {
        if_exists: bool,
        name: String,
    },
    Use {
        project: String,
    },
    ShowTables {
        project: Option<String>,
    },
    ShowProjects,
    ShowPartitions {
        name: ObjectRef,
    },
    ShowSnapshots {
        name: ObjectRef,
    },
    Describe {
        name: ObjectRef,
        extended: bool,
    },
    /// `ALTER TABLE t [PARTITION (k = 'v', …)] COMPACT MAJOR|MINOR`
    Compact {
        name: ObjectRef,
        partition: Vec<(String, String)>,
        major: bool,
    },
    /// `ALTER TABLE t SET TBLPROPERTIES ('k'='v', …)` / `ALTER TABLE t UNSET TBLPROPERTIES
    /// ('k', …)`; names lower-cased.
    AlterProperties {
        name: ObjectRef,
        set: BTreeMap<String, String>,
        unset: Vec<String>,
    },
    /// `SET odps.…` and the like: accepted for compatibility with MaxCompute scripts.
    SetIgnored {
        text: String,
    },
}

/// A cursor over the significant tokens of one statement.
pub(crate) struct Cursor {
    toks: Vec<Token>,
    pos: usize,
}

impl Cursor {
    pub fn new(tokens: &[TokenWithSpan]) -> Cursor {
        Cursor {
            toks: tokens
                .iter()
                .map(|t| t.token.clone())
                .filter(|t| !is_blank(t))
                .collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n)
    }

    fn is_keyword(t: Option<&Token>, kw: &str) -> bool {
        matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    pub fn peek_keyword(&self, kw: &str) -> bool {
        Self::is_keyword(self.peek(), kw)
    }

    pub fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.peek_keyword(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Eats the keywords if all of them come next, in order.
    pub fn eat_keywords(&mut self, kws: &[&str]) -> bool {
        if kws
            .iter()
            .enumerate()
            .all(|(i, k)| Self::is_keyword(self.peek_at(i), k))
        {
            self.pos += kws.len();
            true
        } else {
            false
        }
    }

    fn near(&self) -> String {
        match self.peek() {
            Some(t) => format!("near '{t}'"),
            None => "at the end of the statement".to_string(),
        }
    }

    fn eat(&mut self, t: &Token) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Token) -> Result<()> {
        if self.eat(t) {
            Ok(())
        } else {
            Err(Error::syntax(format!("expected '{t}' {}", self.near())))
        }
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    fn expect_end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(Error::syntax(format!(
                "unexpected text {} (the statement should end here)",
                self.near()
            )))
        }
    }

    /// A name (quoted or not), lower-cased.
    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let v = w.value.to_ascii_lowercase();
                self.pos += 1;
                Ok(v)
            }
            _ => Err(Error::syntax(format!("expected {what} {}", self.near()))),
        }
    }

    fn object_name(&mut self, what: &str) -> Result<ObjectRef> {
        let first = self.ident(what)?;
        if self.eat(&Token::Period) {
            let name = self.ident(what)?;
            Ok(ObjectRef {
                project: Some(first),
                name,
            })
        } else {
            Ok(ObjectRef {
                project: None,
                name: first,
            })
        }
    }

    /// A string literal: `'…'`, or `"…"` (a quoted name to the tokenizer).
    fn string(&mut self, what: &str) -> Result<String> {
        let v = match self.peek() {
            Some(Token::SingleQuotedString(s)) | Some(Token::DoubleQuotedString(s)) => s.clone(),
            Some(Token::Word(w)) if w.quote_style.is_some() => w.value.clone(),
            Some(Token::Number(n, _)) => n.clone(),
            _ => return Err(Error::syntax(format!("expected {what} {}", self.near()))),
        };
        self.pos += 1;
        Ok(v)
    }
}

/// Parses the administrative statements; `Ok(None)` for everything else.
pub(crate) fn parse_admin(tokens: &[TokenWithSpan], text: &str) -> Result<Option<AdminStatement>> {
    let mut c = Cursor::new(tokens);
    let stmt = if c.eat_keyword("CREATE") {
        if c.eat_keyword("TABLE") {
            AdminStatement::CreateTable(create_table(&mut c)?)
        } else if c.eat_keyword("PROJECT") || c.eat_keyword("SCHEMA") || c.eat_keyword("DATABASE") {
            let if_not_exists = c.eat_keywords(&["IF", "NOT", "EXISTS"]);
            let name = c.ident("a project name")?;
            AdminStatement::CreateProject {
                if_not_exists,
                name,
            }
        } else {
            return Ok(None);
        }
    } else if c.eat_keyword("DROP") {
        if c.eat_keyword("TABLE") {
            let if_exists = c.eat_keywords(&["IF", "EXISTS"]);
            let name = c.object_name("a table name")?;
            if c.eat_keyword("PURGE") {
                // MaxCompute accepts PURGE; dropping deletes the files anyway.
            }
            AdminStatement::DropTable { if_exists, name }
        } else if c.eat_keyword("PROJECT") || c.eat_keyword("SCHEMA") || c.eat_keyword("DATABASE") {
            let if_exists = c.eat_keywords(&["IF", "EXISTS"]);
            let name = c.ident("a project name")?;
            if c.peek_keyword("CASCADE") {
                return Err(Error::unsupported(
                    "DROP PROJECT … CASCADE: drop the tables first",
                ));
            }
            AdminStatement::DropProject { if_exists, name }
        } else {
            return Ok(None);
        }
    } else if c.eat_keyword("ALTER") {
        if !c.eat_keyword("TABLE") {
            return Ok(None);
        }
        let name = c.object_name("a table name")?;
        let mut partition = Vec::new();
        if c.eat_keyword("PARTITION") {
            c.expect(&Token::LParen)?;
            loop {
                let column = c.ident("a partition column")?;
                c.expect(&Token::Eq)?;
                partition.push((column, c.string("a partition value")?));
                if !c.eat(&Token::Comma) {
                    break;
                }
            }
            c.expect(&Token::RParen)?;
        }
        let set = c.peek_keyword("SET");
        if set || c.peek_keyword("UNSET") {
            c.pos += 1;
            if !c.eat_keyword("TBLPROPERTIES") {
                return Err(Error::unsupported(format!("{text} ({ALTER_SUPPORTED})")));
            }
            if !partition.is_empty() {
                return Err(Error::invalid(
                    "table properties belong to the whole table: remove the PARTITION clause",
                ));
            }
            let stmt = if set {
                AdminStatement::AlterProperties {
                    name,
                    set: property_list(&mut c)?,
                    unset: Vec::new(),
                }
            } else {
                AdminStatement::AlterProperties {
                    name,
                    set: BTreeMap::new(),
                    unset: property_names(&mut c)?,
                }
            };
            c.expect_end()?;
            return Ok(Some(stmt));
        }
        if !c.eat_keyword("COMPACT") {
            return Err(Error::unsupported(format!("{text} ({ALTER_SUPPORTED})")));
        }
        let major = if c.eat_keyword("MAJOR") {
            true
        } else if c.eat_keyword("MINOR") {
            false
        } else {
            return Err(Error::syntax(format!(
                "expected MAJOR or MINOR after COMPACT {}",
                c.near()
            )));
        };
        AdminStatement::Compact {
            name,
            partition,
            major,
        }
    } else if c.eat_keyword("USE") {
        let project = c.ident("a project name")?;
        AdminStatement::Use { project }
    } else if c.eat_keyword("SHOW") {
        if c.eat_keyword("TABLES") {
            let project = if c.eat_keyword("IN") || c.eat_keyword("FROM") {
                Some(c.ident("a project name")?)
            } else {
                None
            };
            AdminStatement::ShowTables { project }
        } else if c.eat_keyword("PROJECTS")
            || c.eat_keyword("SCHEMAS")
            || c.eat_keyword("DATABASES")
        {
            AdminStatement::ShowProjects
        } else if c.eat_keyword("PARTITIONS") {
            AdminStatement::ShowPartitions {
                name: c.object_name("a table name")?,
            }
        } else if c.eat_keyword("SNAPSHOTS") || c.eat_keyword("HISTORY") {
            c.eat_keyword("FOR");
            c.eat_keyword("TABLE");
            AdminStatement::ShowSnapshots {
                name: c.object_name("a table name")?,
            }
        } else {
            return Err(Error::unsupported(format!(
                "{text} (SHOW supports TABLES, PROJECTS, PARTITIONS t and SNAPSHOTS t)"
            )));
        }
    } else if c.eat_keyword("DESC") || c.eat_keyword("DESCRIBE") {
        let extended = c.eat_keyword("EXTENDED") || c.eat_keyword("FORMATTED");
        c.eat_keyword("TABLE");
        let name = c.object_name("a table name")?;
        AdminStatement::Describe { name, extended }
    } else if c.eat_keyword("SET") {
        let key = c.toks.get(c.pos..).unwrap_or_default();
        let is_odps =
            matches!(key.first(), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("odps"));
        if !is_odps {
            return Err(Error::unsupported(format!(
                "{text} (only MaxCompute `SET odps.…` flags are accepted, and ignored)"
            )));
        }
        return Ok(Some(AdminStatement::SetIgnored {
            text: text.to_string(),
        }));
    } else {
        return Ok(None);
    };
    c.expect_end()?;
    Ok(Some(stmt))
}

fn create_table(c: &mut Cursor) -> Result<CreateTable> {
    let if_not_exists = c.eat_keywords(&["IF", "NOT", "EXISTS"]);
    let name = c.object_name("a table name")?;
    if c.peek_keyword("AS") || c.peek_keyword("LIKE") {
        return Err(Error::unsupported(
            "CREATE TABLE … AS SELECT / LIKE: create the table, then INSERT INTO it",
        ));
    }
    c.expect(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut primary_key: Vec<String> = Vec::new();
    loop {
        if c.eat_keywords(&["PRIMARY", "KEY"]) {
            if !primary_key.is_empty() {
                return Err(Error::invalid("the PRIMARY KEY is declared more than once"));
            }
            primary_key = ident_list(c, "a primary-key column")?;
            if primary_key.is_empty() {
                return Err(Error::syntax("PRIMARY KEY () needs at least one column"));
            }
        } else {
            let (column, inline_key) = column_def(c, true)?;
            if inline_key {
                if !primary_key.is_empty() {
                    return Err(Error::invalid("the PRIMARY KEY is declared more than once"));
                }
                primary_key.push(column.name.clone());
            }
            columns.push(column);
        }
        if c.eat(&Token::Comma) {
            continue;
        }
        c.expect(&Token::RParen)?;
        break;
    }
    let mut partition_columns = Vec::new();
    let mut properties = BTreeMap::new();
    loop {
        if c.eat_keywords(&["PARTITIONED", "BY"]) {
            if !partition_columns.is_empty() {
                return Err(Error::syntax("PARTITIONED BY is given more than once"));
            }
            c.expect(&Token::LParen)?;
            loop {
                let (column, _) = column_def(c, false)?;
                partition_columns.push(column);
                if !c.eat(&Token::Comma) {
                    break;
                }
            }
            c.expect(&Token::RParen)?;
        } else if c.eat_keyword("TBLPROPERTIES") {
            for (key, value) in property_list(c)? {
                if properties.insert(key.clone(), value).is_some() {
                    return Err(Error::invalid(format!(
                        "table property '{key}' is given more than once"
                    )));
                }
            }
        } else if c.peek_keyword("COMMENT") {
            return Err(Error::unsupported(
                "table comments (COMMENT after the column list); column comments are supported",
            ));
        } else if c.peek_keyword("LIFECYCLE") {
            return Err(Error::unsupported(
                "LIFECYCLE: data retention is set with \"acid.data.retain.hours\"",
            ));
        } else {
            break;
        }
    }
    c.expect_end()?;
    Ok(CreateTable {
        if_not_exists,
        name,
        columns,
        primary_key,
        partition_columns,
        properties,
    })
}

const ALTER_SUPPORTED: &str = "ALTER TABLE supports only … [PARTITION (…)] COMPACT \
     MAJOR|MINOR, … SET TBLPROPERTIES ('name'='value', …) and … UNSET TBLPROPERTIES ('name', …)";

/// `('k'='v', …)` (either quote style); names lower-cased, each at most once.
fn property_list(c: &mut Cursor) -> Result<BTreeMap<String, String>> {
    let mut properties = BTreeMap::new();
    c.expect(&Token::LParen)?;
    loop {
        let key = c.string("a property name")?;
        c.expect(&Token::Eq)?;
        let value = c.string("a property value")?;
        if properties.insert(key.to_ascii_lowercase(), value).is_some() {
            return Err(Error::invalid(format!(
                "table property '{key}' is given more than once"
            )));
        }
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(properties)
}

/// `('k', …)` (either quote style); names lower-cased, each at most once.
fn property_names(c: &mut Cursor) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    c.expect(&Token::LParen)?;
    loop {
        let key = c.string("a property name")?;
        let lower = key.to_ascii_lowercase();
        if names.contains(&lower) {
            return Err(Error::invalid(format!(
                "table property '{key}' is given more than once"
            )));
        }
        names.push(lower);
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(names)
}

fn ident_list(c: &mut Cursor, what: &str) -> Result<Vec<String>> {
    c.expect(&Token::LParen)?;
    let mut out = Vec::new();
    if c.eat(&Token::RParen) {
        return Ok(out);
    }
    loop {
        out.push(c.ident(what)?);
        if !c.eat(&Token::Comma) {
            break;
        }
    }
    c.expect(&Token::RParen)?;
    Ok(out)
}

const CONSTRAINT_WORDS: [&str; 6] = ["NOT", "NULL", "PRIMARY", "COMMENT", "DEFAULT", "CONSTRAINT"];

/// `name TYPE [NOT NULL | NULL | PRIMARY KEY | COMMENT '…']*`; returns the column and whether it
/// was declared `PRIMARY KEY` inline.
fn column_def(c: &mut Cursor, allow_key: bool) -> Result<(Column, bool)> {
    let name = c.ident("a column name")?;
    // The type runs to the first top-level ',' or ')' or constraint keyword; '<>' and '()' nest.
    let mut text = String::new();
    let mut depth: i32 = 0;
    while let Some(t) = c.peek() {
        if depth == 0
            && (matches!(t, Token::Comma | Token::RParen)
                || CONSTRAINT_WORDS
                    .iter()
                    .any(|k| Cursor::is_keyword(Some(t), k)))
        {
            break;
        }
        match t {
            Token::LParen | Token::Lt => depth += 1,
            Token::RParen | Token::Gt => depth -= 1,
            Token::ShiftRight => depth -= 2,
            _ => {}
        }
        match t {
            Token::Word(w) => text.push_str(&w.value),
            other => text.push_str(&other.to_string()),
        }
        if matches!(t, Token::Word(_)) && matches!(c.peek_at(1), Some(Token::Word(_))) {
            text.push(' ');
        }
        c.pos += 1;
        if depth < 0 {
            return Err(Error::syntax(format!(
                "unbalanced brackets in the type of column '{name}'"
            )));
        }
    }
    if text.is_empty() {
        return Err(Error::syntax(format!(
            "column '{name}' needs a type {}",
            c.near()
        )));
    }
    let data_type = DataType::from_str(&text)?;
    let mut column = Column::new(name.clone(), data_type);
    let mut key = false;
    loop {
        if c.eat_keywords(&["NOT", "NULL"]) {
            column.nullable = false;
        } else if c.eat_keyword("NULL") {
            column.nullable = true;
        } else if c.eat_keywords(&["PRIMARY", "KEY"]) {
            if !allow_key {
                return Err(Error::invalid(format!(
                    "partition column '{name}' cannot be a primary-key column"
                )));
            }
            key = true;
        } else if c.eat_keyword("COMMENT") {
            column.comment = Some(c.string("a comment")?);
        } else if c.peek_keyword("DEFAULT") || c.peek_keyword("CONSTRAINT") {
            return Err(Error::unsupported(format!(
                "{} on column '{name}'",
                c.peek().map(|t| t.to_string()).unwrap_or_default()
            )));
        } else {
            break;
        }
    }
    Ok((column, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_split_at_top_level_semicolons_only() {
        let s = split_statements("SELECT 'a;b'; -- c;\n SELECT 2 ;;  ").unwrap();
        assert_eq!(s, vec!["SELECT 'a;b'", "-- c;\n SELECT 2"]);
        let s = split_statements("SELECT 'é;'; SELECT \"x;\"").unwrap();
        assert_eq!(s, vec!["SELECT 'é;'", "SELECT \"x;\""]);
        assert!(
            split_statements("  -- only a comment\n")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn input_is_complete_after_a_semicolon_outside_strings() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1;\nSELECT"));
    }

    fn admin(sql: &str) -> AdminStatement {
        parse_admin(&tokenize(sql).unwrap(), sql).unwrap().unwrap()
    }

    #[test]
    fn create_table_parses_the_maxcompute_clauses() {
        let AdminStatement::CreateTable(t) = admin(
            r#"CREATE TABLE IF NOT EXISTS p.Mf_Part (
                 id BIGINT NOT NULL, name STRING COMMENT 'who', m MAP<STRING,ARRAY<INT>>,
                 s STRUCT<a:INT,b:DECIMAL(10,2)>, v VARCHAR(8), PRIMARY KEY (id)
               ) PARTITIONED BY (dd STRING, hh STRING)
               TBLPROPERTIES ("transactional"="true", 'write.bucket.num'='64')"#,
        ) else {
            panic!("not a create table")
        };
        assert!(t.if_not_exists);
        assert_eq!(t.name.project.as_deref(), Some("p"));
        assert_eq!(t.name.name, "mf_part");
        assert_eq!(t.primary_key, vec!["id"]);
        let types: Vec<String> = t.columns.iter().map(|c| c.data_type.to_string()).collect();
        assert_eq!(
            types,
            [
                "BIGINT",
                "STRING",
                "MAP<STRING,ARRAY<INT>>",
                "STRUCT<a:INT,b:DECIMAL(10,2)>",
                "VARCHAR(8)"
            ]
        );
        assert!(!t.columns[0].nullable);
        assert_eq!(t.columns[1].comment.as_deref(), Some("who"));
        assert_eq!(t.partition_columns.len(), 2);
        assert_eq!(t.properties["write.bucket.num"], "64");
    }

    #[test]
    fn alter_table_set_and_unset_tblproperties_parse_in_both_quote_styles() {
        let AdminStatement::AlterProperties { name, set, unset } = admin(
            r#"ALTER TABLE p.T SET TBLPROPERTIES ("acid.data.retain.hours"="60", 'Upsert.Major-Compact.Enable'='true', "upsert.major-compact.min-commits"=3)"#,
        ) else {
            panic!("not an alter")
        };
        assert_eq!(name.project.as_deref(), Some("p"));
        assert_eq!(name.name, "t");
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            [
                ("acid.data.retain.hours".to_string(), "60".to_string()),
                (
                    "upsert.major-compact.enable".to_string(),
                    "true".to_string()
                ),
                (
                    "upsert.major-compact.min-commits".to_string(),
                    "3".to_string()
                ),
            ]
        );
        assert!(unset.is_empty());
        let AdminStatement::AlterProperties { name, set, unset } = admin(
            r#"alter table t unset tblproperties ('acid.data.retain.hours', "Target-File-Size")"#,
        ) else {
            panic!("not an alter")
        };
        assert_eq!((name.project, name.name.as_str()), (None, "t"));
        assert!(set.is_empty());
        assert_eq!(unset, ["acid.data.retain.hours", "target-file-size"]);
    }

    #[test]
    fn bad_alter_tables_say_what_is_wrong() {
        for (sql, needle) in [
            (
                "ALTER TABLE t SET TBLPROPERTIES ()",
                "expected a property name",
            ),
            ("ALTER TABLE t SET TBLPROPERTIES ('a')", "expected '='"),
            ("ALTER TABLE t SET TBLPROPERTIES ('a'='1'", "expected ')'"),
            (
                "ALTER TABLE t SET TBLPROPERTIES ('a'='1', 'A'='2')",
                "'A' is given more than once",
            ),
            (
                "ALTER TABLE t UNSET TBLPROPERTIES ('a', 'a')",
                "more than once",
            ),
            (
                "ALTER TABLE t SET TBLPROPERTIES ('a'='1') x",
                "should end here",
            ),
            ("ALTER TABLE t SET LIFECYCLE 7", "SET TBLPROPERTIES"),
            (
                "ALTER TABLE t PARTITION (dd='1') SET TBLPROPERTIES ('a'='1')",
                "remove the PARTITION clause",
            ),
            ("ALTER TABLE t RENAME TO u", "COMPACT MAJOR|MINOR"),
        ] {
            let err = parse_admin(&tokenize(sql).unwrap(), sql)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{sql}: {err}");
        }
    }

    #[test]
    fn bad_create_tables_are_syntax_errors() {
        for sql in [
            "CREATE TABLE t (id BIGINT",
            "CREATE TABLE t (id)",
            "CREATE TABLE t (id BIGINT) TBLPROPERTIES (\"a\")",
            "CREATE TABLE t (id BIGINT) extra",
            "CREATE TABLE t (id NUMBERISH)",
        ] {
            assert!(parse_admin(&tokenize(sql).unwrap(), sql).is_err(), "{sql}");
        }
    }
}
