//! The hash-chained evidence log.
//!
//! Every admin action and every adapter call appends an entry holding metadata only
//! (digests, ids, hashes of request and response, a citizen pseudonym), never a payload.
//! Each entry's hash covers its fields and the previous entry's hash, so editing, deleting
//! or reordering any row breaks the chain from that row on; [`verify`] finds the first
//! broken link. With a checkpoint key, the host also seals what it appends and makes
//! signed checkpoints outside the database ([`checkpoint`]), so that a log cut short or
//! extended by someone else is found too.
//!
//! Appends go through one writer task that batches entries into a transaction; on
//! PostgreSQL an advisory lock serializes writers across replicas. An entry that must
//! commit with other writes ([`Audit::append_in`]) is chained in their transaction on
//! SQLite, whose writes are serialized anyway. On PostgreSQL it goes into `audit_pending`
//! instead, without the lock, and the writer chains it with its next batch: a transaction
//! holding the lock through its commit would make every filing wait on the one before.

pub mod checkpoint;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Connection as _, Row};
use tokio::sync::{mpsc, oneshot};

use self::checkpoint::{Anchor, CheckpointKey};
use crate::store::sql::{self, Tx};
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
    /// The host's seal, on the last entry of each batch it appended (see [`checkpoint`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
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
    /// `None` asks only that the entries waiting in `audit_pending` be chained.
    entry: Option<Entry>,
    done: oneshot::Sender<anyhow::Result<()>>,
}

/// Handle to the audit writer.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::Sender<Pending>,
    backend: Backend,
    key: Option<Arc<CheckpointKey>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("backend", &self.backend).field("sealed", &self.key.is_some()).finish()
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.entry.fmt(f)
    }
}

impl Audit {
    /// Starts the writer task; with a key, it seals every batch it appends.
    pub fn start(db: Db, key: Option<Arc<CheckpointKey>>) -> Audit {
        let (tx, rx) = mpsc::channel(8192);
        let backend = db.backend();
        tokio::spawn(writer(db, key.clone(), rx));
        Audit { tx, backend, key }
    }

    /// Writes `entry` inside the caller's own transaction (the work of a [`Db::write`]), so
    /// that it commits with the writes it is the evidence of, or not at all. On SQLite it
    /// is chained there, and sealed: the transaction may be the last to commit. On
    /// PostgreSQL it waits in `audit_pending` until the writer chains it; call
    /// [`Audit::chain_pending`] after the commit to wait for that.
    pub async fn append_in(&self, tx: &mut dyn Tx, entry: &Entry) -> sqlx::Result<()> {
        match self.backend {
            Backend::Sqlite => {
                append_on(tx, self.backend, self.key.as_deref(), std::slice::from_ref(entry), false).await.map(drop)
            }
            Backend::Postgres => {
                sql::query("INSERT INTO audit_pending (at, kind, actor, subject, data) VALUES ($1, $2, $3, $4, $5)")
                    .bind(now_ms())
                    .bind(entry.kind.as_str())
                    .bind(entry.actor.as_str())
                    .bind(entry.subject.as_str())
                    .bind(entry.data.to_string())
                    .execute(tx)
                    .await
                    .map(drop)
            }
        }
    }

    /// Waits until the entries that [`Audit::append_in`] wrote in transactions committed
    /// before now are chained, so that the log's listing and verifier see them. What was
    /// committed is durable either way: an entry this fails to chain is chained with the
    /// writer's next batch, on this replica or another, or when a host starts.
    pub async fn chain_pending(&self) -> anyhow::Result<()> {
        match self.backend {
            Backend::Sqlite => Ok(()),
            Backend::Postgres => self.send(None).await,
        }
    }

    /// Appends and waits until the entry is committed. Entries that arrive while a batch is
    /// being written go into the next batch: one transaction, one fsync, for all of them.
    pub async fn record(&self, entry: Entry) -> anyhow::Result<()> {
        self.send(Some(entry)).await
    }

    async fn send(&self, entry: Option<Entry>) -> anyhow::Result<()> {
        let (done, wait) = oneshot::channel();
        self.tx.send(Pending { entry, done }).await.map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?;
        wait.await.map_err(|_| anyhow::anyhow!("the audit writer has stopped"))?
    }
}

async fn writer(db: Db, key: Option<Arc<CheckpointKey>>, mut rx: mpsc::Receiver<Pending>) {
    let mut chain = Chain { db, key, conn: None, head: None, alone: false };
    // Entries a replica committed and did not chain before it stopped.
    if chain.db.backend() == Backend::Postgres
        && let Err(error) = chain.append(&Arc::default(), true).await
    {
        tracing::error!(%error, "failed to chain the evidence waiting in audit_pending");
    }
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        chain.write_batch(batch.drain(..)).await;
    }
}

/// The log's one writer on this host, and what it knows of the chain.
struct Chain {
    db: Db,
    key: Option<Arc<CheckpointKey>>,
    /// PostgreSQL: the writer's own connection, taken out of the pool, so a batch pays no
    /// pool hand-off or ping. Dropped after any error and taken anew.
    conn: Option<AnyConnection>,
    /// PostgreSQL: the last entry this writer appended (or found, under the lock).
    head: Option<Head>,
    /// PostgreSQL: whether the last read under the lock found the chain where this writer
    /// had left it, so that no other writer (replica, CLI) seems to be appending.
    alone: bool,
}

impl Chain {
    async fn write_batch(&mut self, batch: impl Iterator<Item = Pending>) {
        let (entries, waiting): (Vec<Option<Entry>>, Vec<_>) = batch.map(|p| (p.entry, p.done)).unzip();
        // Only a batch that someone waits on to chain `audit_pending` reads it (it is empty
        // but for the moments between a filing's commit and its wait).
        let pending = entries.iter().any(Option::is_none);
        let entries = Arc::new(entries.into_iter().flatten().collect::<Vec<_>>());
        let mut result = self.append(&entries, pending).await;
        if result.is_err() {
            // One retry after a pause covers a transient lock or connection error.
            tokio::time::sleep(Duration::from_millis(50)).await;
            result = self.append(&entries, pending).await;
        }
        if let Err(error) = &result {
            tracing::error!(%error, entries = entries.len(), "failed to append to the audit log");
        }
        for done in waiting {
            let _ = done.send(result.as_ref().map(|_| ()).map_err(|e| anyhow::anyhow!("{e:#}")));
        }
    }

    /// Appends a batch in one transaction; its last entry carries the seal, so every state
    /// of the log another reader can see ends with a sealed entry. With `pending`
    /// (PostgreSQL), it chains the entries waiting in `audit_pending` first.
    async fn append(&mut self, batch: &Arc<Vec<Entry>>, pending: bool) -> anyhow::Result<()> {
        let backend = self.db.backend();
        if backend == Backend::Sqlite {
            // Group-committed with the other durable writes (see [`Db::write`]).
            let (key, batch) = (self.key.clone(), batch.clone());
            self.db
                .write(move |conn| {
                    Box::pin(async move { append_on(conn, backend, key.as_deref(), &batch, false).await.map(drop) })
                })
                .await?;
            return Ok(());
        }
        let result = self.append_postgres(batch, pending).await;
        if result.is_err() {
            (self.conn, self.head, self.alone) = (None, None, false);
        }
        result
    }

    async fn append_postgres(&mut self, batch: &[Entry], pending: bool) -> anyhow::Result<()> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self.conn.insert(self.db.writer().acquire().await?.detach()),
        };
        let key = self.key.as_deref();
        // Alone, the head is known: the batch goes in as one statement on its own, one
        // round trip, that takes the lock only if it is free. Held by another writer, the
        // batch is chained under the lock instead (waiting for it); should another writer
        // have appended meanwhile, the sequence number's key refuses the batch whole.
        if self.alone
            && !pending
            && !batch.is_empty()
            && batch.len() <= ROWS_PER_INSERT
            && let Some(head) = &self.head
        {
            let rows = link(head, unchained(batch).collect(), key);
            match insert_if_free(conn, &rows).await {
                Ok(true) => {
                    self.head = rows.last().map(Linked::head);
                    return Ok(());
                }
                Ok(false) => self.alone = false,
                Err(error) if crate::store::is_unique_violation(&error) => self.alone = false,
                Err(error) => return Err(error.into()),
            }
        }
        let mut tx = conn.begin().await?;
        if batch.is_empty() {
            // Only chaining what `audit_pending` holds, which is durable already: lost in a
            // crash, this leaves those rows there to be chained again. Its commit need not
            // wait for the flush (the next durable commit flushes it anyway).
            sqlx::query("SELECT set_config('synchronous_commit', 'off', true)").execute(&mut *tx).await?;
        }
        let appended = append_on(&mut *tx, Backend::Postgres, key, batch, pending).await?;
        tx.commit().await?;
        self.alone = self.head.as_ref() == Some(&appended.found);
        self.head = Some(appended.last);
        Ok(())
    }
}

/// Entries per `INSERT` statement: 9 parameters each, well under SQLite's and
/// PostgreSQL's limits.
const ROWS_PER_INSERT: usize = 64;

/// An entry about to be chained: when it was written, and its data as stored. A batch's
/// entries are borrowed; the rows taken from `audit_pending` are owned.
struct Unchained<'e> {
    at: i64,
    kind: Cow<'e, str>,
    actor: Cow<'e, str>,
    subject: Cow<'e, str>,
    data: String,
}

/// A batch's entries as they are chained now.
fn unchained(batch: &[Entry]) -> impl Iterator<Item = Unchained<'_>> {
    let at = now_ms();
    batch.iter().map(move |e| Unchained {
        at,
        kind: e.kind.as_str().into(),
        actor: e.actor.as_str().into(),
        subject: e.subject.as_str().into(),
        data: e.data.to_string(),
    })
}

/// An entry linked to its predecessor, ready to insert.
struct Linked<'e> {
    seq: i64,
    entry: Unchained<'e>,
    prev: String,
    hash: String,
    seal: Option<String>,
}

impl Linked<'_> {
    fn head(&self) -> Head {
        Head { seq: self.seq, hash: self.hash.clone() }
    }
}

/// Links the entries after `head`, each row's hash on the previous one's; the last carries
/// the seal.
fn link<'e>(head: &Head, entries: Vec<Unchained<'e>>, key: Option<&CheckpointKey>) -> Vec<Linked<'e>> {
    let (mut seq, mut prev) = (head.seq, head.hash.clone());
    let count = entries.len();
    let mut rows = Vec::with_capacity(count);
    for (i, entry) in entries.into_iter().enumerate() {
        seq += 1;
        let hash = entry_hash(&prev, seq, entry.at, &entry.kind, &entry.actor, &entry.subject, &entry.data);
        let seal = key.filter(|_| i + 1 == count).map(|key| key.seal(seq, &hash, entry.at));
        rows.push(Linked { seq, entry, prev: std::mem::replace(&mut prev, hash.clone()), hash, seal });
    }
    rows
}

/// Inserts linked rows in as few statements as the databases' parameter limits allow (one
/// round trip per chunk, not per entry).
async fn insert(conn: &mut dyn Tx, rows: &[Linked<'_>]) -> sqlx::Result<()> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash, seal) VALUES {}",
            sql::placeholders(chunk.len(), 9)
        );
        bind_rows(sql::query(&sql), chunk).execute(conn).await?;
    }
    Ok(())
}

/// Binds the nine columns of each row, in order.
fn bind_rows<'q>(mut query: sql::Query<'q>, rows: &[Linked<'_>]) -> sql::Query<'q> {
    for row in rows {
        let e = &row.entry;
        query = query.bind(row.seq).bind(e.at).bind(&*e.kind).bind(&*e.actor).bind(&*e.subject);
        query = query.bind(e.data.as_str()).bind(row.prev.as_str()).bind(row.hash.as_str()).bind(row.seal.clone());
    }
    query
}

/// PostgreSQL: inserts linked rows (at most [`ROWS_PER_INSERT`]) in one statement on its
/// own, if the chain's advisory lock is free: taken by the statement (held to its commit,
/// so a writer that waits for the lock reads the head after these rows), or, held by
/// another writer, nothing is inserted and this answers `false`. The lock is tried once,
/// before any row goes in.
async fn insert_if_free(conn: &mut dyn Tx, rows: &[Linked<'_>]) -> sqlx::Result<bool> {
    const COLUMNS: &str = "seq, at, kind, actor, subject, data, prev_hash, hash, seal";
    let sql = format!(
        "WITH chain AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(${lock}) AS free) \
         INSERT INTO audit_log ({COLUMNS}) SELECT v.* FROM (VALUES {values}) AS v ({COLUMNS}), chain WHERE chain.free",
        lock = rows.len() * 9 + 1,
        values = sql::placeholders(rows.len(), 9),
    );
    let inserted = bind_rows(sql::query(&sql), rows).bind(PG_LOCK_KEY).execute(conn).await?;
    Ok(inserted == rows.len() as u64)
}

/// Where [`append_on`] found the chain's head, and where it left it.
struct Appended {
    found: Head,
    last: Head,
}

/// Chains `batch` (after the rows of `audit_pending`, with `pending` on PostgreSQL) in the
/// caller's transaction, reading the head first (on PostgreSQL under the advisory lock that
/// serializes writers across replicas).
async fn append_on(
    conn: &mut dyn Tx,
    backend: Backend,
    key: Option<&CheckpointKey>,
    batch: &[Entry],
    pending: bool,
) -> sqlx::Result<Appended> {
    let mut entries = Vec::with_capacity(batch.len());
    let head = match backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
        Backend::Postgres => "SELECT seq, hash FROM audit_chain_head($1) WHERE seq IS NOT NULL",
    };
    let found = match sql::query(head).bind(PG_LOCK_KEY).fetch_optional(conn).await? {
        Some(row) => Head { seq: row.int(0)?, hash: row.text(1)? },
        None => Head { seq: 0, hash: GENESIS.to_owned() },
    };
    if pending && backend == Backend::Postgres {
        // Under the lock no other writer takes these rows; rows of transactions not yet
        // committed are not seen, and wait for the next batch.
        let pending = sql::query("DELETE FROM audit_pending RETURNING id, at, kind, actor, subject, data")
            .fetch_all(conn)
            .await?;
        let mut pending = pending
            .iter()
            .map(|row| {
                let entry = Unchained {
                    at: row.int(1)?,
                    kind: row.text(2)?.into(),
                    actor: row.text(3)?.into(),
                    subject: row.text(4)?.into(),
                    data: row.text(5)?,
                };
                Ok((row.int(0)?, entry))
            })
            .collect::<sqlx::Result<Vec<_>>>()?;
        pending.sort_by_key(|(id, _)| *id);
        entries.extend(pending.into_iter().map(|(_, entry)| entry));
    }
    entries.extend(unchained(batch));
    let rows = link(&found, entries, key);
    insert(conn, &rows).await?;
    let last = rows.last().map_or_else(|| found.clone(), Linked::head);
    Ok(Appended { found, last })
}

/// The result of checking the chain.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// Entries checked.
    pub entries: i64,
    /// The newest entry checked: the head of the chain as far as it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    /// The first entry whose link is broken, and why (for a log cut short: the first entry
    /// missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<Broken>,
    /// Whether a checkpoint key was at hand. Without one, only edits inside the log are
    /// found: not entries deleted from its end, nor entries appended with recomputed hashes.
    pub anchored: bool,
    /// The newest entry whose seal verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_to: Option<i64>,
    /// The latest checkpoint the log was checked against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointUsed>,
    /// What the check could not vouch for, when the log is intact as far as it could see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// PostgreSQL: entries committed with what they are the evidence of (filings) and not
    /// chained yet, in `audit_pending`; the log's writer of a running host chains them.
    /// Absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchained: Option<i64>,
}

/// An entry of the chain and its hash.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Broken {
    pub seq: i64,
    pub reason: String,
}

/// A checkpoint the log was checked against, and where it was found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CheckpointUsed {
    pub seq: i64,
    /// The hash of entry `seq` that the checkpoint vouches for.
    pub hash: String,
    /// When it was made, milliseconds since the Unix epoch.
    pub at: i64,
    /// `database`, or the file's path.
    pub source: String,
}

/// Walks the whole chain and reports the first broken link; with keys, also checks the
/// newest seal and the latest checkpoints (of the database and of `anchor.dirs`): a log
/// that ends before a checkpoint was cut short, and entries after the last seal were
/// appended outside the host.
pub async fn verify(db: &Db, anchor: &Anchor) -> anyhow::Result<Verification> {
    let anchored = !anchor.keys.is_empty();
    let mut report = Verification {
        ok: true,
        entries: 0,
        head: None,
        first_broken: None,
        anchored,
        sealed_to: None,
        checkpoint: None,
        warning: None,
        unchained: None,
    };
    if db.backend() == Backend::Postgres {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_pending").fetch_one(db.pool()).await?;
        report.unchained = Some(waiting).filter(|n| *n > 0);
    }
    let broken = |mut report: Verification, seq: i64, reason: String| -> anyhow::Result<Verification> {
        report.ok = false;
        report.first_broken = Some(Broken { seq, reason });
        Ok(report)
    };

    // The latest valid checkpoint of every place; one that does not verify is a finding.
    let mut checkpoints = Vec::new();
    if anchored {
        for found in checkpoint::latest(db, &anchor.dirs).await? {
            match found.checkpoint {
                Ok(c) if anchor.keys.checks(&c) => checkpoints.push((c, found.source)),
                Ok(c) => {
                    let reason = format!(
                        "checkpoint {} ({}) does not verify with any configured checkpoint key: it is forged, or was signed by a key not configured",
                        c.seq, found.source
                    );
                    return broken(report, c.seq, reason);
                }
                Err(why) => return broken(report, 0, format!("the checkpoint file {} {why}", found.source)),
            }
        }
    }

    let mut expected_seq = 1i64;
    let mut prev = GENESIS.to_owned();
    let mut after = 0i64;
    let mut last_sealed: Option<Record> = None;
    loop {
        let rows = sqlx::query(
            "SELECT seq, at, kind, actor, subject, data, prev_hash, hash, seal FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
        )
        .bind(after)
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let r = record_from(row)?;
            if r.seq != expected_seq {
                let reason =
                    format!("expected entry {expected_seq} but found {}: entries were deleted or reordered", r.seq);
                return broken(report, r.seq, reason);
            }
            if r.prev_hash != prev {
                let reason =
                    "does not link to the entry before it: entries were deleted, inserted or reordered".to_owned();
                return broken(report, r.seq, reason);
            }
            if entry_hash(&prev, r.seq, r.at, &r.kind, &r.actor, &r.subject, &r.data) != r.hash {
                return broken(report, r.seq, "its content does not match its hash: the entry was edited".into());
            }
            if let Some((c, source)) = checkpoints.iter().find(|(c, _)| c.seq == r.seq)
                && c.head_hash != r.hash
            {
                let reason = format!("differs from checkpoint {} ({source}): the log was rewritten", c.seq);
                return broken(report, r.seq, reason);
            }
            prev.clone_from(&r.hash);
            expected_seq += 1;
            report.entries += 1;
            report.head = Some(Head { seq: r.seq, hash: r.hash.clone() });
            after = r.seq;
            if r.seal.is_some() {
                last_sealed = Some(r);
            }
        }
    }
    let head = report.entries;

    if !anchored {
        report.warning = Some(
            "no checkpoint key is configured ([audit] checkpoint-key): entries deleted from the end of the log, or appended with recomputed hashes, cannot be found".into(),
        );
        return Ok(report);
    }
    let latest = checkpoints.into_iter().max_by_key(|(c, _)| c.seq);
    if let Some((c, source)) = &latest {
        report.checkpoint =
            Some(CheckpointUsed { seq: c.seq, hash: c.head_hash.clone(), at: c.at, source: source.clone() });
        if c.seq > head {
            let reason = format!(
                "the log ends at entry {head} but checkpoint {} ({source}) vouches for {} entries: {} were deleted from its end",
                c.seq,
                c.seq,
                c.seq - head
            );
            return broken(report, head + 1, reason);
        }
    }
    if let Some(r) = &last_sealed {
        if !anchor.keys.seals(r.seal.as_deref().unwrap_or_default(), r.seq, &r.hash, r.at) {
            let reason = "its seal does not verify: the entry was forged or rewritten outside the host".to_owned();
            return broken(report, r.seq, reason);
        }
        report.sealed_to = Some(r.seq);
    }
    let vouched = report.sealed_to.unwrap_or(0).max(latest.as_ref().map_or(0, |(c, _)| c.seq));
    if vouched < head {
        if report.sealed_to.is_none() && latest.is_none() {
            report.warning = Some(
                "no entry is sealed and there is no checkpoint yet: the log was written before a checkpoint key was configured".into(),
            );
            return Ok(report);
        }
        let reason =
            format!("entries {} to {head} carry no seal of the host: they were appended outside it", vouched + 1);
        return broken(report, vouched + 1, reason);
    }
    if latest.is_none() {
        report.warning = Some(
            "no checkpoint was found, in the database or in the checkpoint folders: entries deleted from the end of the log cannot be found".into(),
        );
    }
    Ok(report)
}

/// Which entries [`list`] answers. Every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// An adapter or agency id: entries about it (their subject) or naming it as their
    /// `agency`.
    pub agency: Option<String>,
    /// An operator's name, a citizen's pseudonym or `system`: entries it made, or that
    /// someone made on its behalf (`on_behalf_of`).
    pub actor: Option<String>,
    /// A kind (`admin.install`), or kinds by prefix (`admin.*`).
    pub kind: Option<String>,
    /// Entries at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Entries before this time.
    pub until_ms: Option<i64>,
    /// Entries before this sequence number (the next page).
    pub before: Option<i64>,
}

/// A time as operators write it for [`Filter`]: RFC 3339 (`2026-12-01T08:30:00Z`,
/// `2026-12-01T12:00:00+03:30`) or a day (`2026-12-01`, midnight UTC), in milliseconds
/// since the Unix epoch.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    use time::format_description::well_known::Rfc3339;
    let text = text.trim();
    let parsed = time::OffsetDateTime::parse(text, &Rfc3339).or_else(|_| {
        const DAY: &[time::format_description::BorrowedFormatItem<'_>] =
            time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(text, DAY).map(|day| day.midnight().assume_utc())
    });
    match parsed {
        Ok(at) => Ok((at.unix_timestamp_nanos() / 1_000_000) as i64),
        Err(_) => Err(format!("`{text}` is not a time: write RFC 3339 (2026-12-01T08:30:00Z) or a day (2026-12-01)")),
    }
}

/// A pattern for `LIKE ... ESCAPE '\'` that finds `text` literally.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// A pattern that finds `"key":"value"` in an entry's canonical JSON data.
fn like_data(key: &str, value: &str) -> String {
    format!("%{}%", like_literal(&format!("\"{key}\":{}", serde_json::Value::from(value))))
}

/// The newest `limit` entries that pass `filter`, newest first.
pub async fn list(db: &Db, filter: &Filter, limit: i64) -> anyhow::Result<Vec<Record>> {
    let mut conditions = vec!["seq < $1".to_owned()];
    let mut binds: Vec<Bind> = vec![Bind::Int(filter.before.unwrap_or(i64::MAX))];
    if let Some(agency) = &filter.agency {
        let (a, b) =
            (next(&mut binds, Bind::Text(agency.clone())), next(&mut binds, Bind::Text(like_data("agency", agency))));
        conditions.push(format!("(subject = {a} OR data LIKE {b} ESCAPE '\\')"));
    }
    if let Some(actor) = &filter.actor {
        let (a, b) = (
            next(&mut binds, Bind::Text(actor.clone())),
            next(&mut binds, Bind::Text(like_data("on_behalf_of", actor))),
        );
        conditions.push(format!("(actor = {a} OR data LIKE {b} ESCAPE '\\')"));
    }
    if let Some(kind) = &filter.kind {
        match kind.strip_suffix('*') {
            Some(prefix) => {
                let p = next(&mut binds, Bind::Text(format!("{}%", like_literal(prefix))));
                conditions.push(format!("kind LIKE {p} ESCAPE '\\'"));
            }
            None => {
                let p = next(&mut binds, Bind::Text(kind.clone()));
                conditions.push(format!("kind = {p}"));
            }
        }
    }
    if let Some(since) = filter.since_ms {
        let p = next(&mut binds, Bind::Int(since));
        conditions.push(format!("at >= {p}"));
    }
    if let Some(until) = filter.until_ms {
        let p = next(&mut binds, Bind::Int(until));
        conditions.push(format!("at < {p}"));
    }
    let limit_param = next(&mut binds, Bind::Int(limit));
    let sql = format!(
        "SELECT seq, at, kind, actor, subject, data, prev_hash, hash, seal FROM audit_log WHERE {} ORDER BY seq DESC LIMIT {limit_param}",
        conditions.join(" AND ")
    );
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = match bind {
            Bind::Int(n) => query.bind(n),
            Bind::Text(t) => query.bind(t),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    Ok(rows.iter().map(record_from).collect::<Result<_, _>>()?)
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Adds a parameter and answers its placeholder.
fn next(binds: &mut Vec<Bind>, value: Bind) -> String {
    binds.push(value);
    format!("${}", binds.len())
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
        seal: row.try_get("seal")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_day_and_patterns_are_literal() {
        assert_eq!(parse_instant("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_instant("1970-01-01T03:30:00+03:30"), Ok(0));
        assert_eq!(parse_instant("1970-01-02"), Ok(86_400_000));
        assert!(parse_instant("yesterday").unwrap_err().contains("RFC 3339"));
        assert_eq!(like_literal("a_b%c\\"), "a\\_b\\%c\\\\");
        assert_eq!(like_data("agency", "echo"), "%\"agency\":\"echo\"%");
    }

    fn entry(actor: &str, n: usize) -> Entry {
        Entry { kind: "test.append".into(), actor: actor.into(), subject: n.to_string(), data: serde_json::json!({}) }
    }

    /// Two replicas' writers on one PostgreSQL log: each, alone, appends without the lock
    /// on the head it knows; when the other appended meanwhile, the sequence number's key
    /// refuses the batch and it is chained again under the lock. No entry is lost or
    /// forked, and the chain verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_writers_on_postgres_keep_one_chain() {
        let Some(pg) = crate::store::testing::Postgres::create("audit").await else { return };
        let other = Db::connect(&pg.url).await.unwrap();
        let (a, b) = (Audit::start(pg.db.clone(), None), Audit::start(other.clone(), None));
        // `a` alone: after two batches under the lock it appends on the head it knows.
        for n in 0..4 {
            a.record(entry("a", n)).await.unwrap();
        }
        // `b` appends behind `a`'s back; `a`'s next batch collides and is chained anew.
        b.record(entry("b", 0)).await.unwrap();
        a.record(entry("a", 4)).await.unwrap();
        // Both at once, in many batches.
        let tasks: Vec<_> = (0..400)
            .map(|n| {
                let (writer, actor) = if n % 2 == 0 { (a.clone(), "a") } else { (b.clone(), "b") };
                tokio::spawn(async move { writer.record(entry(actor, 100 + n)).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }

        let report = verify(&pg.db, &Anchor::default()).await.unwrap();
        assert!(report.ok, "{report:?}");
        assert_eq!(report.entries, 406);
        let subjects: Vec<String> = sqlx::query_scalar("SELECT actor || subject FROM audit_log ORDER BY seq")
            .fetch_all(pg.db.pool())
            .await
            .unwrap();
        let distinct: std::collections::BTreeSet<_> = subjects.iter().collect();
        assert_eq!(distinct.len(), 406, "an entry was appended twice");
        assert_eq!(&subjects[..6], ["a0", "a1", "a2", "a3", "b0", "a4"]);
        other.close().await;
        pg.drop().await;
    }

    /// A writer that appends without the lock does not pass one that holds it: while
    /// another writer holds the lock and has not appended yet, the lone writer's batch waits
    /// for it, and goes in after what it appended.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lone_writer_waits_for_one_that_holds_the_lock() {
        let Some(pg) = crate::store::testing::Postgres::create("audit").await else { return };
        let a = Audit::start(pg.db.clone(), None);
        for n in 0..4 {
            a.record(entry("a", n)).await.unwrap();
        }
        // Another writer (a replica) takes the lock and reads the head.
        let mut other = pg.db.pool().begin().await.unwrap();
        let (seq, hash): (i64, String) = sqlx::query_as("SELECT seq, hash FROM audit_chain_head($1)")
            .bind(PG_LOCK_KEY)
            .fetch_one(&mut *other)
            .await
            .unwrap();
        assert_eq!(seq, 4);
        let waiting = tokio::spawn({
            let a = a.clone();
            async move { a.record(entry("a", 4)).await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the lone writer appended while another writer held the lock");
        // The other writer appends on the head it read, and commits.
        let at = now_ms();
        let next = entry_hash(&hash, seq + 1, at, "test.append", "b", "0", "{}");
        sqlx::query("INSERT INTO audit_log (seq, at, kind, actor, subject, data, prev_hash, hash) VALUES ($1, $2, 'test.append', 'b', '0', '{}', $3, $4)")
            .bind(seq + 1)
            .bind(at)
            .bind(&hash)
            .bind(&next)
            .execute(&mut *other)
            .await
            .expect("the other writer's entry goes in where it read the head");
        other.commit().await.unwrap();
        waiting.await.unwrap().unwrap();

        let report = verify(&pg.db, &Anchor::default()).await.unwrap();
        assert!(report.ok, "{report:?}");
        let order: Vec<String> = sqlx::query_scalar("SELECT actor || subject FROM audit_log ORDER BY seq")
            .fetch_all(pg.db.pool())
            .await
            .unwrap();
        assert_eq!(order, ["a0", "a1", "a2", "a3", "b0", "a4"]);
        pg.drop().await;
    }
}
