//! Time travel and incremental reads in the MaxCompute syntax, which sqlparser does not know:
//!
//! ```sql
//! SELECT … FROM t TIMESTAMP AS OF '2026-11-21 10:00:00'      -- the newest snapshot at or before
//! SELECT … FROM t VERSION AS OF 5                            -- snapshot 5
//! SELECT … FROM t VERSION BETWEEN 2 AND 5                    -- changes committed in (2, 5]
//! SELECT … FROM t TIMESTAMP BETWEEN '…' AND '…'              -- changes committed in (a, b]
//! ```
//!
//! Before parsing, each such clause is found in the token stream (a table name right after
//! `FROM`, `JOIN` or a `,`, followed by `TIMESTAMP|VERSION AS OF x` or `… BETWEEN a AND b`) and
//! replaced by a reference to a temporary table `"$pinned"."$tN" AS t` whose provider is pinned to
//! that snapshot (or reads those changes). The operands are expressions evaluated once, before the
//! statement runs: a literal, `CURRENT_TIMESTAMP()`, `(SELECT …)`, `now() - INTERVAL '1' HOUR`, …
//! An operand ends at a top-level `,`, `)`, `AND` (first operand of `BETWEEN`) or clause keyword;
//! a bare name right after a one-token operand is the table alias (`FROM t VERSION AS OF 3 x`).
//!
//! Semantics (DESIGN §6):
//! - `TIMESTAMP` operands are instants. Strings (`'2026-11-21 10:00:00'`, `'2026-11-21'`, RFC 3339
//!   with an offset) and timestamps without a zone are read as **UTC**; zoned values are
//!   converted. A snapshot's time is its commit time.
//! - `AS OF x` reads the snapshot with id `x`, or the newest one committed at or before instant
//!   `x` (an error if there is none).
//! - `BETWEEN a AND b` returns, for every key changed by a commit in `(a, b]`, its last state in
//!   that range plus the column `_op` (`upsert` | `delete`). Versions: `0` means "before the first
//!   commit"; instants select the newest snapshot at or before each bound (none before the first
//!   commit counts as version 0). `a` after `b` is an error; `a = b` is empty. Delta tables only.

use datafusion::sql::sqlparser::ast::Expr as SqlExpr;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Span, Token, TokenWithSpan, Whitespace};

use crate::error::{Error, Result};
use crate::parse::ObjectRef;

/// Name of the schema holding the per-statement pinned tables.
pub(crate) const PINNED_SCHEMA: &str = "$pinned";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointKind {
    Version,
    Timestamp,
}

#[derive(Debug, Clone)]
pub(crate) enum Clause {
    AsOf(Box<SqlExpr>),
    Between(Box<SqlExpr>, Box<SqlExpr>),
}

/// One time-travel clause found in a statement.
#[derive(Debug, Clone)]
pub(crate) struct Travel {
    pub table: ObjectRef,
    pub kind: PointKind,
    pub clause: Clause,
    /// Name of the temporary table (in [`PINNED_SCHEMA`]) that replaces the clause.
    pub placeholder: String,
}

const BOUNDARY_KEYWORDS: [&str; 27] = [
    "WHERE",
    "GROUP",
    "ORDER",
    "LIMIT",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "FULL",
    "CROSS",
    "OUTER",
    "NATURAL",
    "ON",
    "USING",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "HAVING",
    "WINDOW",
    "QUALIFY",
    "AS",
    "OFFSET",
    "LATERAL",
    "FETCH",
    "CLUSTER",
    "DISTRIBUTE",
    "SORT",
];

fn is_kw(t: &Token, kw: &str) -> bool {
    matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

fn blank(t: &Token) -> bool {
    matches!(t, Token::Whitespace(_) | Token::EOF)
}

fn with_span(token: Token) -> TokenWithSpan {
    TokenWithSpan::new(token, Span::empty())
}

/// Finds the time-travel clauses of a statement and replaces each by a pinned-table reference.
/// `next_name` names the temporary tables.
pub(crate) fn rewrite(
    tokens: Vec<TokenWithSpan>,
    mut next_name: impl FnMut() -> String,
) -> Result<(Vec<TokenWithSpan>, Vec<Travel>)> {
    // Indices of significant tokens.
    let sig: Vec<usize> = (0..tokens.len())
        .filter(|i| !blank(&tokens[*i].token))
        .collect();
    let tok = |s: usize| -> Option<&Token> { sig.get(s).map(|i| &tokens[*i].token) };
    let mut travels = Vec::new();
    // (first token index, end token index exclusive, replacement)
    let mut edits: Vec<(usize, usize, Vec<TokenWithSpan>)> = Vec::new();
    let mut s = 0;
    while s < sig.len() {
        let Some(t) = tok(s) else { break };
        let kind = if is_kw(t, "VERSION") {
            PointKind::Version
        } else if is_kw(t, "TIMESTAMP") {
            PointKind::Timestamp
        } else {
            s += 1;
            continue;
        };
        let as_of = tok(s + 1).is_some_and(|t| is_kw(t, "AS"))
            && tok(s + 2).is_some_and(|t| is_kw(t, "OF"));
        let between = tok(s + 1).is_some_and(|t| is_kw(t, "BETWEEN"));
        // The table name before: `name` or `project . name`, right after FROM / JOIN / ','.
        let name_at = |s: usize| -> Option<(usize, ObjectRef)> {
            let word = |i: usize| match tok(i) {
                Some(Token::Word(w)) => Some(w.value.to_ascii_lowercase()),
                _ => None,
            };
            let name = word(s.checked_sub(1)?)?;
            let (start, project) = match (s.checked_sub(2).and_then(tok), s.checked_sub(3)) {
                (Some(Token::Period), Some(p)) => (p, Some(word(p)?)),
                _ => (s - 1, None),
            };
            let before = tok(start.checked_sub(1)?)?;
            let ok = is_kw(before, "FROM") || is_kw(before, "JOIN") || before == &Token::Comma;
            ok.then_some((start, ObjectRef { project, name }))
        };
        let Some((start, table)) = (as_of || between).then(|| name_at(s)).flatten() else {
            s += 1;
            continue;
        };
        let mut p = s + if as_of { 3 } else { 2 };
        let (first, next) = operand(&tokens, &sig, p, between)?;
        p = next;
        let (clause, alias) = if between {
            if !tok(p).is_some_and(|t| is_kw(t, "AND")) {
                return Err(Error::syntax(format!(
                    "expected AND in `{} BETWEEN a AND b` after table '{table}'",
                    kind_name(kind)
                )));
            }
            let (second, next) = operand(&tokens, &sig, p + 1, false)?;
            p = next;
            (
                Clause::Between(Box::new(first.0), Box::new(second.0)),
                second.1,
            )
        } else {
            (Clause::AsOf(Box::new(first.0)), first.1)
        };
        let placeholder = next_name();
        let explicit_alias = tok(p).is_some_and(|t| is_kw(t, "AS"));
        let mut replacement = vec![
            with_span(Token::make_word(PINNED_SCHEMA, Some('"'))),
            with_span(Token::Period),
            with_span(Token::make_word(&placeholder, Some('"'))),
        ];
        if !explicit_alias {
            let alias = alias.unwrap_or_else(|| table.name.clone());
            replacement.extend([
                with_span(Token::Whitespace(Whitespace::Space)),
                with_span(Token::make_keyword("AS")),
                with_span(Token::Whitespace(Whitespace::Space)),
                with_span(Token::make_word(&alias, Some('"'))),
            ]);
        }
        // Up to the clause's last token: whitespace after it stays.
        let end = sig[p - 1] + 1;
        edits.push((sig[start], end, replacement));
        travels.push(Travel {
            table,
            kind,
            clause,
            placeholder,
        });
        s = p;
    }
    if edits.is_empty() {
        return Ok((tokens, travels));
    }
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    for (start, end, replacement) in edits {
        out.extend_from_slice(&tokens[i..start]);
        out.extend(replacement);
        i = end;
    }
    out.extend_from_slice(&tokens[i..]);
    Ok((out, travels))
}

fn kind_name(kind: PointKind) -> &'static str {
    match kind {
        PointKind::Version => "VERSION",
        PointKind::Timestamp => "TIMESTAMP",
    }
}

/// Parses one operand starting at significant index `s`; returns (expression, bare alias) and
/// the significant index after it.
fn operand(
    tokens: &[TokenWithSpan],
    sig: &[usize],
    s: usize,
    stop_at_and: bool,
) -> Result<((SqlExpr, Option<String>), usize)> {
    let mut depth: i32 = 0;
    let mut end = s;
    while let Some(&i) = sig.get(end) {
        let t = &tokens[i].token;
        match t {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => break,
            Token::RParen => depth -= 1,
            Token::Comma | Token::SemiColon if depth == 0 => break,
            _ if depth == 0
                && (BOUNDARY_KEYWORDS.iter().any(|k| is_kw(t, k))
                    || (stop_at_and && is_kw(t, "AND"))) =>
            {
                break;
            }
            _ => {}
        }
        end += 1;
    }
    if end == s {
        return Err(Error::syntax(
            "a time-travel clause needs a value after AS OF / BETWEEN / AND",
        ));
    }
    // A bare name after a complete one-token operand is the table alias.
    let mut alias = None;
    let mut expr_end = end;
    if end - s >= 2 {
        let last = &tokens[sig[end - 1]].token;
        let prev = &tokens[sig[end - 2]].token;
        let last_is_name = matches!(last, Token::Word(_));
        let prev_is_value = matches!(
            prev,
            Token::Number(..) | Token::SingleQuotedString(_) | Token::RParen
        ) || matches!(prev, Token::Word(w) if w.quote_style.is_none());
        if last_is_name && prev_is_value && end - s == 2 {
            if let Token::Word(w) = last {
                alias = Some(w.value.to_ascii_lowercase());
            }
            expr_end = end - 1;
        }
    }
    let mut expr_tokens: Vec<TokenWithSpan> = tokens[sig[s]..=sig[expr_end - 1]].to_vec();
    expr_tokens.push(with_span(Token::EOF));
    let mut parser = Parser::new(&GenericDialect {}).with_tokens_with_locations(expr_tokens);
    let expr = parser.parse_expr()?;
    if parser.peek_token().token != Token::EOF {
        return Err(Error::syntax(format!(
            "unexpected '{}' in a time-travel value",
            parser.peek_token().token
        )));
    }
    Ok(((expr, alias), end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::tokenize;

    fn run(sql: &str) -> (String, Vec<Travel>) {
        let mut n = 0;
        let (tokens, travels) = rewrite(tokenize(sql).unwrap(), || {
            n += 1;
            format!("$t{n}")
        })
        .unwrap();
        let text: String = tokens.iter().map(|t| t.token.to_string()).collect();
        (text, travels)
    }

    #[test]
    fn as_of_clauses_become_pinned_tables() {
        let (text, t) = run("SELECT * FROM t VERSION AS OF 5 WHERE id = 1");
        assert_eq!(
            text,
            "SELECT * FROM \"$pinned\".\"$t1\" AS \"t\" WHERE id = 1"
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].kind, PointKind::Version);
        assert!(matches!(&t[0].clause, Clause::AsOf(e) if e.to_string() == "5"));

        let (text, t) = run(
            "SELECT * FROM p.t TIMESTAMP AS OF '2026-11-21 10:00:00' x JOIN u VERSION AS OF 2 AS y ON x.id = y.id",
        );
        assert_eq!(
            text,
            "SELECT * FROM \"$pinned\".\"$t1\" AS \"x\" JOIN \"$pinned\".\"$t2\" AS y ON x.id = y.id"
        );
        assert_eq!(t[0].table.project.as_deref(), Some("p"));
        assert_eq!(t[1].table.name, "u");
    }

    #[test]
    fn between_clauses_take_two_operands() {
        let (text, t) = run(
            "SELECT * FROM t TIMESTAMP BETWEEN now() - INTERVAL '1' HOUR AND (SELECT now()) ORDER BY id",
        );
        assert_eq!(
            text,
            "SELECT * FROM \"$pinned\".\"$t1\" AS \"t\" ORDER BY id"
        );
        assert!(matches!(&t[0].clause, Clause::Between(a, b)
            if a.to_string().starts_with("now()") && b.to_string() == "(SELECT now())"));
    }

    #[test]
    fn other_uses_of_the_words_are_left_alone() {
        for sql in [
            "SELECT CAST(x AS TIMESTAMP) FROM t",
            "SELECT * FROM t WHERE version BETWEEN 1 AND 2",
            "SELECT version FROM t",
        ] {
            let (text, t) = run(sql);
            assert_eq!(text, sql);
            assert!(t.is_empty());
        }
    }
}
