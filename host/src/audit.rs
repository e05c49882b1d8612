//! The hash-chained evidence log.
//!
//! Every admin action and every adapter call appends an entry holding metadata only
//! (digests, ids, hashes of request and response, a citizen pseudonym), never a payload.
//! Each entry's hash covers its fields and the previous entry's hash, so editing, deleting
//! or reordering any row breaks the chain from that row on; [`verify`] finds the first
//! broken link.
//!
//! Appends go through one writer task that batches entries into a transaction; on
//! PostgreSQL an advisory lock serializes writers across replicas.

use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::{mpsc, oneshot};

use crate::store::{Backend, Db, now_ms};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lock key for serializing audit writers on PostgreSQL.
const PG_LOCK_KEY: i64 = 0x50_4a_41_55_44_49_54; // "PJAUDIT"

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `admin.install`, `admin.enable`, `call.inquire`, ...
    pub kind: String,
    /// Operator name, citizen pseudonym, or `system`.
    pub actor: String,
    /// What the entry is about (adapter id, tracking code, ...).
    pub subject: String,
    /// Metadata as canonical JSON (keys sorted).
    pub data: serde_json::Value,
}

/// An entry as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Record {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub actor: String,
    pub subject: String,
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry given its predecessor's.
pub fn entry_hash(prev_hash: &str, seq: i64, at: i64, kind: &str, actor: &str, subject: &str, data: &str) -> String {
    let mut h = Sha256::new();
    for part in [prev_hash, &seq.to_string(), &at.to_string(), kind, actor, subject, data] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Hex SHA-256 of some bytes (request and response hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

struct Pending {
    entry: Entry,
    done: Option<oneshot::Sender<anyhow::Result<()>>>,
}

/// Handle to the audit writer.
#[derive(Debug, Clone)]
pub struct Audit {
    tx: mpsc::Sender<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.entry.fmt(f)
    }
}

impl Audit {
    /// Starts the writer task.
    pub fn start(db: Db) -> Audit {
        let (tx, rx) = mpsc::channel(8192);
        tokio::spawn(writer(db, rx));
        Audit { tx }
    }

    /// Appends and waits until the entry is committed (admin actions).
    pub async fn record(&self, entry: Entry) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Pending { entry, done: Some(done) })
            .await
            .map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?;
        wait.await.map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?
    }

    /// Appends without waiting (adapter calls); under overload the entry waits for room.
    pub async fn record_later(&self, entry: Entry) {
        if self.tx.send(Pending { entry, done: None }).await.is_err() {
            tracing::error!("the audit writer has stopped; an entry was lost");
        }
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut result = append(&db, &batch).await;
        if result.is_err() {
            // One retry after a pause covers a transient lock or connection error.
            tokio::time::sleep(Duration::from_millis(50)).await;
            result = append(&db, &batch).await;
        }
        if let Err(error) = &result {
            tracing::error!(%error, entries = batch.len(), "failed to append to the audit log");
        }
        for pending in batch.drain(..) {
            if let Some(done) = pending.done {
                let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| anyhow::anyhow!("{e:#}")));
            }
        }
    }
}

async fn append(db: &Db, batch: &[Pending]) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_LOCK_KEY).execute(&mut *tx).await?;
    }
    let last =
        sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
    let (mut seq, mut prev) = match last {
        Some(row) => (row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("hash")?),
        None => (0, GENESIS.to_owned()),
    };
    let at = now_ms();
    for pending in batch {
        seq += 1;
        let e = &pending.entry;
        let data = e.data.to_string();
        let hash = entry_hash(&prev, seq, at, &e.kind, &e.actor, &e.subject, &data);
        sqlx::query(
            "INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(seq)
        .bind(at)
        .bind(&e.kind)
        .bind(&e.actor)
        .bind(&e.subject)
        .bind(&data)
        .bind(&prev)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
        prev = hash;
    }
    tx.commit().await?;
    Ok(())
}

/// The result of checking the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The first entry whose link is broken, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<Broken>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// Walks the whole chain and reports the first broken link.
pub async fn verify(db: &Db) -> anyhow::Result<Verification> {
    let mut expected_seq = 1i64;
    let mut prev = GENESIS.to_owned();
    let mut checked = 0i64;
    let mut after = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, kind, actor, subject, data, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(after)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(Verification { ok: true, entries: checked, first_broken: None });
        }
        for row in &rows {
            let r = record_from(row)?;
            let broken = |reason: String| {
                Ok(Verification { ok: false, entries: checked, first_broken: Some(Broken { seq: r.seq, reason }) })
            };
            if r.seq != expected_seq {
                return broken(format!(
                    "expected entry {expected_seq} but found {}: entries were deleted or reordered",
                    r.seq
                ));
            }
            if r.prev_hash != prev {
                return broken(
                    "does not link to the entry before it: entries were deleted, inserted or reordered".into(),
                );
            }
            if entry_hash(&prev, r.seq, r.at, &r.kind, &r.actor, &r.subject, &r.data) != r.hash {
                return broken("its content does not match its hash: the entry was edited".into());
            }
            prev = r.hash;
            expected_seq += 1;
            checked += 1;
            after = r.seq;
        }
    }
}

/// The most recent entries, newest first.
pub async fn recent(db: &Db, limit: i64, before: Option<i64>) -> anyhow::Result<Vec<Record>> {
    let rows = sqlx::query(
        "SELECT seq, at, kind, actor, subject, data, prev_hash, hash FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(record_from).collect::<Result<_, _>>()?)
}

fn record_from(row: &sqlx::any::AnyRow) -> Result<Record, sqlx::Error> {
    Ok(Record {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        actor: row.try_get("actor")?,
        subject: row.try_get("subject")?,
        data: row.try_get("data")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}
