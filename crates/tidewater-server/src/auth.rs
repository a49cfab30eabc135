//! Credentials and permissions: AccessKey users with per-project grants, and the check every
//! request but `/health` passes (see [`tidewater_format::auth`] for the signature scheme).
//!
//! Users live in the warehouse (`.tidewater/users.json`), so every server sharing a warehouse
//! knows them and `tidewater user add|grant|revoke` changes them while servers run (a server
//! re-reads the file at most every [`RELOAD_EVERY`], and when it meets an unknown AccessKey id).
//! Root credentials come from `TIDEWATER_ACCESS_ID`/`TIDEWATER_ACCESS_KEY` at start, or are
//! generated on first start, stored, and printed once.
//!
//! Invariants: a request is served only if its signature verifies with the secret of its
//! AccessKey id, its date is within the allowed clock skew and its body matches the signed
//! content hash; what it may do is decided by the grants of that user alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use tidewater_engine::store::Storage;
use tidewater_format::auth::{
    CONTENT_SHA256_HEADER, DATE_FORMAT, DATE_HEADER, canonical_request, content_sha256,
    parse_authorization, verify,
};

use crate::error::{ApiError, ApiResult};

/// Where the users are kept, relative to the warehouse root (not a valid project name).
pub const USERS_FILE: &str = ".tidewater/users.json";
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);
const UNKNOWN_RELOAD_GAP: Duration = Duration::from_millis(100);
const USERS_FORMAT_VERSION: u32 = 1;
/// Grants on this project name apply to every project.
pub const ALL_PROJECTS: &str = "*";

/// What a user may do on a project; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role '{s}' (read, write or admin)")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        })
    }
}

impl From<tidewater_sql::Access> for Role {
    fn from(a: tidewater_sql::Access) -> Self {
        match a {
            tidewater_sql::Access::Read => Role::Read,
            tidewater_sql::Access::Write => Role::Write,
            tidewater_sql::Access::Admin => Role::Admin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub access_id: String,
    pub access_key: String,
    /// Root may do everything, including managing projects.
    #[serde(default)]
    pub root: bool,
    /// Project (or `*`) → role.
    #[serde(default)]
    pub grants: BTreeMap<String, Role>,
}

/// The users file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    #[serde(default)]
    pub format_version: u32,
    #[serde(default)]
    pub users: Vec<User>,
}

fn random_hex(bytes: usize) -> String {
    let mut out = String::new();
    while out.len() < bytes * 2 {
        out.push_str(&hex::encode(uuid::Uuid::new_v4().as_bytes()));
    }
    out.truncate(bytes * 2);
    out
}

impl Users {
    pub async fn load(storage: &Storage) -> Result<Users, String> {
        match storage.get_opt(USERS_FILE).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("'{USERS_FILE}' in the warehouse is corrupted: {e}")),
            Ok(None) => Ok(Users::default()),
            Err(e) => Err(format!("cannot read '{USERS_FILE}': {e}")),
        }
    }

    pub async fn save(&mut self, storage: &Storage) -> Result<(), String> {
        self.format_version = USERS_FORMAT_VERSION;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        storage
            .put(USERS_FILE, bytes)
            .await
            .map_err(|e| format!("cannot write '{USERS_FILE}': {e}"))
    }

    pub fn find(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    fn find_mut(&mut self, name: &str) -> Result<&mut User, String> {
        self.users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| format!("no user '{name}' (add it with: tidewater user add {name})"))
    }

    /// Adds a user with new credentials.
    pub fn add(&mut self, name: &str, root: bool) -> Result<&User, String> {
        tidewater_format::path::validate_name("user", name).map_err(|e| e.to_string())?;
        if self.find(name).is_some() {
            return Err(format!("user '{name}' already exists"));
        }
        self.users.push(User {
            name: name.to_string(),
            access_id: format!("TW{}", random_hex(10).to_ascii_uppercase()),
            access_key: random_hex(20),
            root,
            grants: BTreeMap::new(),
        });
        Ok(&self.users[self.users.len() - 1])
    }

    pub fn grant(&mut self, name: &str, project: &str, role: Role) -> Result<(), String> {
        if project != ALL_PROJECTS {
            tidewater_format::path::validate_name("project", project).map_err(|e| e.to_string())?;
        }
        self.find_mut(name)?
            .grants
            .insert(project.to_string(), role);
        Ok(())
    }

    pub fn revoke(&mut self, name: &str, project: &str) -> Result<bool, String> {
        Ok(self.find_mut(name)?.grants.remove(project).is_some())
    }
}

/// Who sent a request, and what they may do.
#[derive(Debug, Clone)]
pub struct Identity {
    pub user: String,
    pub root: bool,
    pub grants: BTreeMap<String, Role>,
}

impl Identity {
    pub fn allows(&self, project: &str, role: Role) -> bool {
        self.root
            || [project, ALL_PROJECTS]
                .iter()
                .any(|p| self.grants.get(*p).is_some_and(|r| *r >= role))
    }

    pub fn require(&self, project: &str, role: Role) -> ApiResult<()> {
        if self.allows(project, role) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "user '{}' has no {role} grant on project '{project}' (an admin can run: tidewater user grant {} {project} {role})",
            self.user, self.user
        )))
    }

    pub fn require_root(&self, what: &str) -> ApiResult<()> {
        if self.root {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "only root may {what}; user '{}' is not root",
            self.user
        )))
    }
}

/// The server's view of the users, refreshed from the warehouse.
pub struct Authenticator {
    storage: Storage,
    env_root: Option<User>,
    users: RwLock<Arc<Users>>,
    loaded: Mutex<Instant>,
    max_skew: Duration,
}

/// Root credentials the server generated on first start (to print once).
#[derive(Debug, Clone)]
pub struct GeneratedRoot {
    pub access_id: String,
    pub access_key: String,
}

impl Authenticator {
    /// Loads the users; `root` from the environment, else a stored root, else a generated one.
    pub async fn start(
        storage: Storage,
        root: Option<(String, String)>,
        max_skew: Duration,
    ) -> Result<(Authenticator, Option<GeneratedRoot>), String> {
        let mut users = Users::load(&storage).await?;
        let mut generated = None;
        let env_root = root.map(|(access_id, access_key)| User {
            name: "root".into(),
            access_id,
            access_key,
            root: true,
            grants: BTreeMap::new(),
        });
        if env_root.is_none() && !users.users.iter().any(|u| u.root) {
            let name = if users.find("root").is_some() {
                "root_"
            } else {
                "root"
            };
            let user = users.add(name, true)?.clone();
            users.save(&storage).await?;
            generated = Some(GeneratedRoot {
                access_id: user.access_id,
                access_key: user.access_key,
            });
        }
        Ok((
            Authenticator {
                storage,
                env_root,
                users: RwLock::new(Arc::new(users)),
                loaded: Mutex::new(Instant::now()),
                max_skew,
            },
            generated,
        ))
    }

    fn snapshot(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the users when the last read is older than [`RELOAD_EVERY`], or — `unknown`,
    /// for an AccessKey id not seen — older than [`UNKNOWN_RELOAD_GAP`] (waiting for that gap,
    /// so ids added a moment ago are found while a flood of unknown ids costs few reads).
    async fn refresh(&self, unknown: bool) {
        let min_age = if unknown {
            UNKNOWN_RELOAD_GAP
        } else {
            RELOAD_EVERY
        };
        let elapsed = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if unknown && elapsed < min_age {
            tokio::time::sleep(min_age - elapsed).await;
        }
        {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            if loaded.elapsed() < min_age {
                return;
            }
            *loaded = Instant::now();
        }
        match Users::load(&self.storage).await {
            Ok(u) => *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(u),
            Err(e) => {
                tracing::warn!(error = %e, "could not reload the users; keeping the last ones")
            }
        }
    }

    async fn lookup(&self, access_id: &str) -> Option<User> {
        if let Some(r) = &self.env_root
            && r.access_id == access_id
        {
            return Some(r.clone());
        }
        self.refresh(false).await;
        let find = |users: &Users| {
            users
                .users
                .iter()
                .find(|u| u.access_id == access_id)
                .cloned()
        };
        if let Some(u) = find(&self.snapshot()) {
            return Some(u);
        }
        self.refresh(true).await;
        find(&self.snapshot())
    }

    /// Checks a request's signature, date and content hash.
    pub async fn authenticate(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> ApiResult<Identity> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let auth = header("authorization").ok_or_else(|| {
            ApiError::unauthenticated(
                "missing Authorization header: sign every request with an AccessKey (docs/API.md, \"Signing\")",
            )
        })?;
        let (access_id, signature) =
            parse_authorization(auth).map_err(ApiError::unauthenticated)?;
        let date = header(DATE_HEADER).ok_or_else(|| {
            ApiError::unauthenticated(format!(
                "missing {DATE_HEADER} header (UTC, YYYYMMDDTHHMMSSZ)"
            ))
        })?;
        let when = NaiveDateTime::parse_from_str(date, DATE_FORMAT).map_err(|_| {
            ApiError::unauthenticated(format!(
                "{DATE_HEADER} '{date}' is not a UTC date like 20261122T024251Z"
            ))
        })?;
        let skew = (Utc::now().naive_utc() - when).num_seconds();
        if skew.unsigned_abs() > self.max_skew.as_secs() {
            return Err(ApiError::unauthenticated(format!(
                "request expired or from the future: {DATE_HEADER} {date} is {} s {} the server clock (at most {} s allowed; check the client's clock)",
                skew.abs(),
                if skew > 0 { "behind" } else { "ahead of" },
                self.max_skew.as_secs()
            )));
        }
        let hash = header(CONTENT_SHA256_HEADER).ok_or_else(|| {
            ApiError::unauthenticated(format!("missing {CONTENT_SHA256_HEADER} header"))
        })?;
        if !hash.eq_ignore_ascii_case(&content_sha256(body)) {
            return Err(ApiError::unauthenticated(format!(
                "{CONTENT_SHA256_HEADER} does not match the body that arrived (truncated or altered in transit?)"
            )));
        }
        let user = self.lookup(access_id).await.ok_or_else(|| {
            ApiError::unauthenticated(format!("unknown AccessKey id '{access_id}'"))
        })?;
        let canonical = canonical_request(method, path, query, date, hash);
        if !verify(&user.access_key, &canonical, signature) {
            return Err(ApiError::unauthenticated(format!(
                "signature does not match for AccessKey id '{access_id}': wrong secret, or the client signed a different request; the server signed:\n{canonical}"
            )));
        }
        Ok(Identity {
            user: user.name,
            root: user.root,
            grants: user.grants,
        })
    }
}
