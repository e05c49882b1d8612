//! Operators and their tokens (stored as SHA-256 hashes, never in clear). A token works
//! until it expires or is revoked, whichever comes first.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::Row;

use super::{Db, now_ms};

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads everything and changes everything.
    Admin,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "auditor" => Some(Role::Auditor),
            _ => None,
        }
    }
}

/// A signed-in operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// Hex SHA-256 of a token, the form tokens are stored and looked up in.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random operator token (256 bits), prefixed so it is recognisable in a leak scan.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("pjo_{}", hex::encode(bytes))
}

/// How long an operator token lasts unless its creator says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// An operator as listed: never its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub name: String,
    pub role: Role,
    /// When its current token was issued (ms since the epoch).
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
}

/// Whether an operator's token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

impl TokenState {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Active => "active",
            TokenState::Expired => "expired",
            TokenState::Revoked => "revoked",
        }
    }
}

impl OperatorRecord {
    /// The token's state at `now_ms`.
    pub fn state(&self, now_ms: i64) -> TokenState {
        if self.revoked_ms.is_some() {
            TokenState::Revoked
        } else if self.expires_ms <= now_ms {
            TokenState::Expired
        } else {
            TokenState::Active
        }
    }
}

fn record(row: &sqlx::any::AnyRow) -> Option<OperatorRecord> {
    Some(OperatorRecord {
        name: row.try_get("name").ok()?,
        role: Role::parse(&row.try_get::<String, _>("role").ok()?)?,
        created_ms: row.try_get("created_at").ok()?,
        expires_ms: row.try_get("expires_at").ok()?,
        revoked_ms: row.try_get("revoked_at").ok()?,
    })
}

impl Db {
    /// Creates an operator whose token works for `ttl`, and returns the token (shown
    /// once). An operator whose token expired or was revoked may be created again under
    /// the same name: it gets the new token and role. One whose token still works may not.
    pub async fn create_operator(&self, name: &str, role: Role, ttl: Duration) -> anyhow::Result<(Operator, String)> {
        let token = new_token();
        let now = now_ms();
        let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let renewed: Option<String> = sqlx::query_scalar(
            "UPDATE operators SET role = $2, token_hash = $3, created_at = $4, expires_at = $5, revoked_at = NULL
             WHERE name = $1 AND (revoked_at IS NOT NULL OR expires_at <= $4) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash(&token))
        .bind(now)
        .bind(expires)
        .fetch_optional(self.writer())
        .await
        .context("failed to create the operator")?;
        if let Some(id) = renewed {
            return Ok((Operator { id, name: name.to_owned(), role }, token));
        }
        let id = format!("op_{:016x}", rand::random::<u64>());
        sqlx::query(
            "INSERT INTO operators (id, name, role, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash(&token))
        .bind(now)
        .bind(expires)
        .execute(self.writer())
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                anyhow::anyhow!("an operator named `{name}` already exists and its token still works; revoke it first")
            }
            other => anyhow::Error::from(other).context("failed to create the operator"),
        })?;
        Ok((Operator { id, name: name.to_owned(), role }, token))
    }

    /// The operator holding `token`, if the token has neither expired nor been revoked.
    pub async fn operator_by_token(&self, token: &str) -> anyhow::Result<Option<Operator>> {
        let row = sqlx::query(
            "SELECT id, name, role FROM operators WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash(token))
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            Some(Operator {
                id: r.try_get("id").ok()?,
                name: r.try_get("name").ok()?,
                role: Role::parse(&r.try_get::<String, _>("role").ok()?)?,
            })
        }))
    }

    /// Every operator, by name.
    pub async fn operators(&self) -> anyhow::Result<Vec<OperatorRecord>> {
        let rows = sqlx::query("SELECT name, role, created_at, expires_at, revoked_at FROM operators ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().filter_map(record).collect())
    }

    /// Revokes the token of operator `name` at once; `None` when there is no such
    /// operator. Revoking again keeps the first time.
    pub async fn revoke_operator(&self, name: &str) -> anyhow::Result<Option<OperatorRecord>> {
        let row = sqlx::query(
            "UPDATE operators SET revoked_at = COALESCE(revoked_at, $2) WHERE name = $1
             RETURNING name, role, created_at, expires_at, revoked_at",
        )
        .bind(name)
        .bind(now_ms())
        .fetch_optional(self.writer())
        .await
        .context("failed to revoke the operator's token")?;
        Ok(row.as_ref().and_then(record))
    }
}
