//! Access control of statements: what a statement needs on each project it touches.
//!
//! An engine made with [`crate::SqlEngine::with_access`] asks its [`AccessCheck`] before it
//! touches a project: tables read by a query need [`Access::Read`], the target of `INSERT`,
//! `UPDATE` and `DELETE` needs [`Access::Write`], and so does `ALTER TABLE` (`COMPACT`,
//! `SET|UNSET TBLPROPERTIES`); other DDL needs [`Access::Admin`]. `SHOW PROJECTS`
//! lists only readable projects. An engine made with [`crate::SqlEngine::new`] allows everything
//! (embedded use: whoever opens the warehouse owns it).

use std::sync::Arc;

use crate::error::{Error, Result};

/// What a statement does to a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
    Admin,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Admin => "admin",
        })
    }
}

/// Decides whether the caller may do `access` on a project; `Err` holds the reason shown.
pub type AccessCheck = Arc<dyn Fn(&str, Access) -> std::result::Result<(), String> + Send + Sync>;

pub(crate) fn check(access: &Option<AccessCheck>, project: &str, what: Access) -> Result<()> {
    match access {
        Some(f) => f(project, what).map_err(|reason| Error::PermissionDenied { reason }),
        None => Ok(()),
    }
}
