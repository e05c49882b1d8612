//! Operators and their tokens (stored as SHA-256 hashes, never in clear).

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

impl Db {
    /// Creates an operator and returns its token (shown once).
    pub async fn create_operator(&self, name: &str, role: Role) -> anyhow::Result<(Operator, String)> {
        let token = new_token();
        let id = format!("op_{:016x}", rand::random::<u64>());
        sqlx::query("INSERT INTO operators (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(name)
            .bind(role.as_str())
            .bind(token_hash(&token))
            .bind(now_ms())
            .execute(self.writer())
            .await
            .map_err(|e| match e {
                sqlx::Error::Database(db) if db.is_unique_violation() => {
                    anyhow::anyhow!("an operator named `{name}` already exists")
                }
                other => anyhow::Error::from(other).context("failed to create the operator"),
            })?;
        Ok((Operator { id, name: name.to_owned(), role }, token))
    }

    /// The operator holding `token`, if any.
    pub async fn operator_by_token(&self, token: &str) -> anyhow::Result<Option<Operator>> {
        let row = sqlx::query("SELECT id, name, role FROM operators WHERE token_hash = $1")
            .bind(token_hash(token))
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
}
