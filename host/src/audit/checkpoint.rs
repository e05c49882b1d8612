//! Signatures that anchor the evidence log outside the database.
//!
//! The hash chain shows an edit inside the log, but not a log cut short, nor entries
//! appended with correctly recomputed hashes: whoever can write the database can do both.
//! The host's checkpoint key (Ed25519, a file named by `[audit] checkpoint-key`, never
//! stored in the database) closes that with two signatures of one message, `(seq, hash,
//! at)`:
//!
//! - a **seal** on the last entry of every batch the writer appends, in the same
//!   transaction, so every committed state of the log ends with a sealed entry. Entries
//!   after the last seal were not written by the host; a seal that does not verify was
//!   forged or its entry rewritten.
//! - a **checkpoint** of the newest sealed entry, made periodically and on demand, written
//!   as a file to `[audit] checkpoint-dir` and to the `audit_checkpoints` table, which the
//!   admin API serves to auditors so they keep copies of their own. A log that ends before
//!   the latest checkpoint, or differs from it at its entry, was cut or rewritten.
//!
//! What is left: entries appended after the latest checkpoint can be deleted back to a
//! sealed entry without a trace until the next checkpoint, so the checkpoint interval is
//! the window of undetectable truncation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::plugins::signature;
use crate::store::{Db, now_ms};

/// Names the signed message's format, so a signature made for anything else never verifies.
const DOMAIN: &str = "panjereh-audit-checkpoint-v1";

/// The message a seal or checkpoint signs: its parts, each prefixed by its length.
fn message(seq: i64, hash: &str, at: i64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(160);
    for part in [DOMAIN, &seq.to_string(), hash, &at.to_string()] {
        bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes
}

/// The host's checkpoint key, read from its file. `Debug` shows only its fingerprint.
pub struct CheckpointKey {
    signing: SigningKey,
    id: String,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// A key from its base64 secret (what `panjereh keygen` writes to `PREFIX.key`).
    pub fn from_secret(text: &str) -> Result<CheckpointKey, String> {
        let signing = signature::parse_secret_key(text)?;
        let id = signature::fingerprint(&signing.verifying_key());
        Ok(CheckpointKey { signing, id })
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> anyhow::Result<CheckpointKey> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "failed to read the checkpoint key {} (make one with `panjereh keygen --out {}`)",
                path.display(),
                path.with_extension("").display()
            )
        })?;
        CheckpointKey::from_secret(&text).map_err(|e| anyhow::anyhow!("checkpoint key {}: {e}", path.display()))
    }

    /// The key's fingerprint, which seals and checkpoints name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The public half, which verifies.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The seal of an entry: `<key id>:<base64 signature>`.
    pub fn seal(&self, seq: i64, hash: &str, at: i64) -> String {
        format!("{}:{}", self.id, signature::sign_message(&self.signing, &message(seq, hash, at)))
    }

    /// A checkpoint of entry `seq` with hash `head_hash`, made at `at`.
    pub fn checkpoint(&self, seq: i64, head_hash: &str, at: i64) -> Checkpoint {
        Checkpoint {
            seq,
            head_hash: head_hash.to_owned(),
            at,
            key: self.id.clone(),
            signature: signature::sign_message(&self.signing, &message(seq, head_hash, at)),
        }
    }
}

/// A signed statement that the evidence log reached entry `seq`, whose hash was
/// `head_hash`, at time `at` (milliseconds since the Unix epoch). The same document is
/// stored in the database, written as a file and served by the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    pub head_hash: String,
    pub at: i64,
    /// Fingerprint of the checkpoint key that signed it.
    pub key: String,
    /// Base64 Ed25519 signature of `(seq, head_hash, at)`.
    pub signature: String,
}

/// The public keys whose seals and checkpoints are believed, by fingerprint: the current
/// checkpoint key and retired ones (`[audit] previous-keys`).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: BTreeMap<String, VerifyingKey>,
}

impl Keyring {
    pub fn new(current: Option<&CheckpointKey>, previous: &[VerifyingKey]) -> Keyring {
        let keys = current.map(CheckpointKey::public).into_iter().chain(previous.iter().copied());
        Keyring { keys: keys.map(|k| (signature::fingerprint(&k), k)).collect() }
    }

    /// No key: nothing can be verified.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn verifies(&self, key_id: &str, signature: &str, seq: i64, hash: &str, at: i64) -> bool {
        self.keys.get(key_id).is_some_and(|key| signature::verify_message(key, &message(seq, hash, at), signature))
    }

    /// Whether a checkpoint was signed by one of the keys.
    pub fn checks(&self, checkpoint: &Checkpoint) -> bool {
        self.verifies(&checkpoint.key, &checkpoint.signature, checkpoint.seq, &checkpoint.head_hash, checkpoint.at)
    }

    /// Whether an entry's seal was made by one of the keys for exactly this entry.
    pub fn seals(&self, seal: &str, seq: i64, hash: &str, at: i64) -> bool {
        seal.split_once(':').is_some_and(|(key_id, signature)| self.verifies(key_id, signature, seq, hash, at))
    }
}

/// What the log is checked against: the keys, and the folders of checkpoint files (besides
/// the database's table).
#[derive(Debug, Clone, Default)]
pub struct Anchor {
    pub keys: Keyring,
    pub dirs: Vec<PathBuf>,
}

/// A checkpoint found in one place, or why what was there is not one.
#[derive(Debug, Clone)]
pub struct Found {
    /// `database`, or the file's path.
    pub source: String,
    pub checkpoint: Result<Checkpoint, String>,
}

/// The name of the file of checkpoint `seq`; zero-padded so that names sort by sequence.
fn file_name(seq: i64) -> String {
    format!("checkpoint-{seq:020}.json")
}

/// Writes a checkpoint's file (a temporary file renamed into place, so a reader never
/// sees half of one).
pub fn write_file(dir: &Path, checkpoint: &Checkpoint) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("failed to create the checkpoint folder {}", dir.display()))?;
    let path = dir.join(file_name(checkpoint.seq));
    let temporary = dir.join(format!(".{}.tmp", file_name(checkpoint.seq)));
    let mut text = serde_json::to_string_pretty(checkpoint)?;
    text.push('\n');
    std::fs::write(&temporary, text).with_context(|| format!("failed to write {}", temporary.display()))?;
    std::fs::rename(&temporary, &path).with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// The newest checkpoint file of a folder (by sequence), if any.
pub fn latest_file(dir: &Path) -> anyhow::Result<Option<Found>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to read the checkpoint folder {}", dir.display())),
    };
    let newest = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint-") && n.ends_with(".json"))
        })
        .max();
    Ok(newest.map(|path| {
        let checkpoint = std::fs::read_to_string(&path).map_err(|e| format!("cannot be read: {e}")).and_then(|text| {
            serde_json::from_str::<Checkpoint>(&text).map_err(|e| format!("is not a checkpoint: {e}"))
        });
        Found { source: path.display().to_string(), checkpoint }
    }))
}

/// The newest checkpoint in the database and in each folder.
pub async fn latest(db: &Db, dirs: &[PathBuf]) -> anyhow::Result<Vec<Found>> {
    let mut found: Vec<Found> = list(db, 1, None)
        .await?
        .into_iter()
        .map(|checkpoint| Found { source: "database".to_owned(), checkpoint: Ok(checkpoint) })
        .collect();
    for dir in dirs {
        found.extend(latest_file(dir)?);
    }
    Ok(found)
}

/// Checkpoints in the database, newest first.
pub async fn list(db: &Db, limit: i64, before: Option<i64>) -> sqlx::Result<Vec<Checkpoint>> {
    let rows = sqlx::query(
        "SELECT seq, head_hash, at, key_id, signature FROM audit_checkpoints WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Checkpoint {
                seq: row.try_get("seq")?,
                head_hash: row.try_get("head_hash")?,
                at: row.try_get("at")?,
                key: row.try_get("key_id")?,
                signature: row.try_get("signature")?,
            })
        })
        .collect()
}

async fn store(db: &Db, checkpoint: &Checkpoint) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_checkpoints (seq, head_hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (seq) DO NOTHING",
    )
    .bind(checkpoint.seq)
    .bind(&checkpoint.head_hash)
    .bind(checkpoint.at)
    .bind(&checkpoint.key)
    .bind(&checkpoint.signature)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// Why no checkpoint was made.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("no checkpoint key is configured ([audit] checkpoint-key)")]
    NoKey,
    #[error("the audit log has no sealed entry yet")]
    NothingSealed,
    #[error("entry {seq}'s seal does not verify: the log was changed outside the host; run `panjereh audit verify`")]
    BadSeal { seq: i64 },
    #[error(
        "the log's newest sealed entry is {seq} but checkpoint {checkpoint} ({place}) vouches for more, or for another entry {checkpoint}: the log was cut or rewritten; run `panjereh audit verify`"
    )]
    Behind { seq: i64, checkpoint: i64, place: String },
    #[error("storage failed: {0:#}")]
    Storage(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CheckpointError {
    fn from(e: sqlx::Error) -> Self {
        CheckpointError::Storage(e.into())
    }
}

/// Makes a checkpoint of the newest sealed entry, unless the latest checkpoint already
/// names it (then that one is answered, and written where it is missing). Refuses to vouch
/// for a log whose newest seal does not verify or that ends before an earlier checkpoint.
pub async fn make(db: &Db, key: &CheckpointKey, keys: &Keyring, dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let row = sqlx::query("SELECT seq, at, hash, seal FROM audit_log WHERE seal IS NOT NULL ORDER BY seq DESC LIMIT 1")
        .fetch_optional(db.pool())
        .await?
        .ok_or(CheckpointError::NothingSealed)?;
    let (seq, at, hash, seal): (i64, i64, String, String) =
        (row.try_get("seq")?, row.try_get("at")?, row.try_get("hash")?, row.try_get("seal")?);
    if !keys.seals(&seal, seq, &hash, at) {
        return Err(CheckpointError::BadSeal { seq });
    }
    let mut existing = None;
    for found in latest(db, &[dir.to_path_buf()]).await? {
        let Ok(checkpoint) = found.checkpoint else { continue };
        if !keys.checks(&checkpoint) {
            continue;
        }
        if checkpoint.seq > seq || (checkpoint.seq == seq && checkpoint.head_hash != hash) {
            return Err(CheckpointError::Behind { seq, checkpoint: checkpoint.seq, place: found.source });
        }
        if checkpoint.seq == seq {
            existing = Some(checkpoint);
        }
    }
    let checkpoint = existing.unwrap_or_else(|| key.checkpoint(seq, &hash, now_ms()));
    if !dir.join(file_name(seq)).exists() {
        write_file(dir, &checkpoint)?;
    }
    store(db, &checkpoint).await?;
    Ok(checkpoint)
}

/// Makes a checkpoint every `every`, the first one at once.
pub fn spawn_periodic(
    db: Db,
    key: std::sync::Arc<CheckpointKey>,
    keys: Keyring,
    dir: PathBuf,
    every: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match make(&db, &key, &keys, &dir).await {
                Ok(checkpoint) => tracing::debug!(seq = checkpoint.seq, "audit checkpoint"),
                Err(CheckpointError::NothingSealed) => {}
                Err(error) => tracing::error!(%error, "failed to make an audit checkpoint"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_checkpoints_bind_every_field_and_the_key() {
        let (secret, _) = signature::generate();
        let key = CheckpointKey::from_secret(&secret).unwrap();
        let keys = Keyring::new(Some(&key), &[]);
        let checkpoint = key.checkpoint(7, "ab", 1000);
        assert!(keys.checks(&checkpoint));
        for forged in [
            Checkpoint { seq: 8, ..checkpoint.clone() },
            Checkpoint { head_hash: "ac".into(), ..checkpoint.clone() },
            Checkpoint { at: 1001, ..checkpoint.clone() },
            Checkpoint { key: "0000".into(), ..checkpoint.clone() },
        ] {
            assert!(!keys.checks(&forged), "{forged:?}");
        }
        let seal = key.seal(7, "ab", 1000);
        assert!(keys.seals(&seal, 7, "ab", 1000));
        assert!(!keys.seals(&seal, 7, "ab", 1001));
        assert!(!keys.seals("garbage", 7, "ab", 1000));
        let (other, _) = signature::generate();
        let other = CheckpointKey::from_secret(&other).unwrap();
        assert!(!keys.seals(&other.seal(7, "ab", 1000), 7, "ab", 1000));
        // A retired key still verifies what it signed.
        assert!(Keyring::new(Some(&other), &[key.public()]).checks(&checkpoint));
        assert!(!format!("{key:?}").contains(&secret));
    }
}
