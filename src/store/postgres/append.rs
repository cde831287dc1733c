//! Appending a batch to the PostgreSQL store: validated like the embedded store's, then one
//! transaction that first locks `tree_state` and checks the writer's epoch (fencing) and the
//! size it builds on.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::format::hash::Hash;
use crate::format::tree::TreeSize;
use crate::pb;
use crate::store::{CheckedPayload, PreparedBatch, StoreError};

use super::read::{commitment_key, stix_key};
use super::{PgStore, Shared, db_err, pool_err, tiles};

/// How long the writer keeps asking whether a commit whose connection failed went through.
const RECONCILE_FOR: Duration = Duration::from_secs(10);

/// The payload rows as columns for one `UNNEST`: commitments, salts, contents.
type PayloadColumns = (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<SharedBytes>);

/// A payload's content as a `bytea` parameter, shared with the request rather than copied
/// (tokio-postgres has no `ToSql` for [`Bytes`]).
#[derive(Debug)]
struct SharedBytes(Bytes);

impl ToSql for SharedBytes {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        <&[u8] as ToSql>::to_sql(&self.0.as_ref(), ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&[u8] as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// One batch's rows, owned so the transaction can run on the store's runtime.
#[derive(Default)]
struct Rows {
    epoch: i64,
    base: i64,
    new_size: i64,
    tip: Vec<u8>,
    last_time_ms: i64,
    note: String,
    idx: Vec<i64>,
    leaf: Vec<Vec<u8>>,
    time_ms: Vec<i64>,
    kind: Vec<i32>,
    bytes: Vec<Vec<u8>>,
    party: (Vec<String>, Vec<i64>),
    claim: (Vec<Vec<u8>>, Vec<i64>),
    lookup: (Vec<Vec<u8>>, Vec<i64>),
    payload: PayloadColumns,
    erase: Vec<Vec<u8>>,
    tile: (Vec<i16>, Vec<i64>, Vec<Vec<u8>>),
}

/// How a transaction ended.
enum Failure {
    /// It did not commit: nothing of the batch is in the log.
    NotCommitted(StoreError),
    /// The connection failed once the commit was sent: it may have committed.
    Unknown(StoreError),
}

pub(super) fn append(
    store: &PgStore,
    batch: &PreparedBatch,
    sign_checkpoint: &mut dyn FnMut(TreeSize, Hash) -> String,
) -> Result<Vec<Hash>, StoreError> {
    let shared = &store.shared;
    let mut guard = shared.writing();
    let Some(w) = guard.as_mut() else {
        return Err(shared.not_writer());
    };
    if batch.entries.is_empty() {
        return Err(StoreError::EmptyBatch);
    }

    // Validate everything before anything is sent, from the keys and hashes the batch was
    // prepared with (as the embedded store does).
    let base = w.frontier.size().0;
    let mut prev = w.tip;
    let mut prev_time = w.last_time_ms;
    let mut rows = Rows::default();
    let mut leaves = Vec::with_capacity(batch.entries.len());
    for (i, e) in batch.entries.iter().enumerate() {
        let position = base + i as u64;
        let k = e.keys();
        let not_contiguous = |reason: String| StoreError::NotContiguous { position, reason };
        if k.index != position {
            return Err(not_contiguous(format!("the entry says index {}", k.index)));
        }
        if e.prev_leaf_hash() != Some(prev) {
            return Err(not_contiguous(format!(
                "prev_leaf_hash is {}, the previous leaf hash is {}",
                e.prev_leaf_hash()
                    .map_or_else(|| "not 32 bytes".into(), hex::encode),
                hex::encode(prev)
            )));
        }
        if k.time_ms < prev_time {
            return Err(not_contiguous(format!(
                "time_ms {} is before the previous entry's {prev_time}",
                k.time_ms
            )));
        }
        prev_time = k.time_ms;
        let idx = position as i64;
        if k.kind == pb::EntryKind::Redaction {
            rows.erase.extend(k.commitments.iter().map(|c| c.to_vec()));
        }
        for c in &k.claims {
            let key = c.key();
            if let Some(at) = rows.claim.0.iter().position(|k2| *k2 == key) {
                return Err(StoreError::AlreadyClaimed {
                    claim: c.to_string(),
                    index: rows.claim.1[at] as u64,
                });
            }
            rows.claim.0.push(key);
            rows.claim.1.push(idx);
        }
        for p in &k.parties {
            rows.party.0.push(p.clone());
            rows.party.1.push(idx);
        }
        let keys = k.stix_ids.iter().map(|s| stix_key(s));
        for key in keys.chain(k.commitments.iter().map(commitment_key)) {
            rows.lookup.0.push(key);
            rows.lookup.1.push(idx);
        }
        prev = e.leaf_hash();
        leaves.push(prev);
        rows.idx.push(idx);
        rows.leaf.push(prev.to_vec());
        rows.time_ms.push(k.time_ms);
        rows.kind.push(k.kind as i32);
        // The one copy of the entry: the rows move to the store's runtime.
        rows.bytes.push(e.bytes().to_vec());
    }
    // Checked payloads hash to their commitments (they are made only by hashing); the
    // contents are shared with the request, not copied.
    for p in batch.payloads.iter().map(CheckedPayload::payload) {
        rows.payload.0.push(p.commitment.to_vec());
        rows.payload.1.push(p.salt.to_vec());
        rows.payload.2.push(SharedBytes(p.content.clone()));
    }

    let mut frontier = w.frontier.clone();
    let nodes: Vec<_> = leaves.iter().flat_map(|l| frontier.push(*l)).collect();
    for ((level, idx), bytes) in tiles::tile_appends(&nodes) {
        rows.tile.0.push(level);
        rows.tile.1.push(idx);
        rows.tile.2.push(bytes);
    }
    let new_size = frontier.size();
    let note = sign_checkpoint(new_size, frontier.root());
    rows.epoch = w.epoch;
    rows.base = base as i64;
    rows.new_size = new_size.0 as i64;
    rows.tip = prev.to_vec();
    rows.last_time_ms = prev_time;
    rows.note = note.clone();

    let pool = shared.pool.clone();
    let outcome = store.block(async move { Ok(write(&pool, &rows).await) })?;
    let committed = match outcome {
        Ok(()) => true,
        Err(Failure::NotCommitted(e)) => {
            if matches!(e, StoreError::NotWriter { .. }) {
                // Fenced: another process took the role.
                *guard = None;
            }
            return Err(e);
        }
        Err(Failure::Unknown(e)) => {
            tracing::warn!(error = %e, "the connection failed during a commit; reading back whether it went through");
            let pool = shared.pool.clone();
            let size = new_size.0 as i64;
            let found = store.block(async move { Ok(reconcile(&pool, size, &note).await) })?;
            match found {
                Some(true) => true,
                Some(false) => {
                    return Err(StoreError::Unavailable(format!(
                        "{e}; the batch was not committed"
                    )));
                }
                None => {
                    // This process no longer knows the log's tip: give up the role's state; the
                    // lease task takes it again (and reloads) once the database answers.
                    *guard = None;
                    return Err(StoreError::OutcomeUnknown(e.to_string()));
                }
            }
        }
    };
    debug_assert!(committed);
    w.frontier = frontier;
    w.tip = prev;
    w.last_time_ms = prev_time;
    publish_size(shared, new_size);
    Ok(leaves)
}

/// Raises the visible size (never lowers it: the lease task may have read a newer one).
fn publish_size(shared: &Shared, size: TreeSize) {
    shared.size.fetch_max(size.0, Ordering::AcqRel);
}

/// The batch's transaction.
async fn write(pool: &deadpool_postgres::Pool, r: &Rows) -> Result<(), Failure> {
    use Failure::NotCommitted as No;
    let mut client = pool.get().await.map_err(|e| No(pool_err(e)))?;
    let tx = client.transaction().await.map_err(|e| No(db_err(e)))?;
    let state = tx
        .query_one(
            "SELECT size, epoch, writer FROM tree_state WHERE id = 0 FOR UPDATE",
            &[],
        )
        .await
        .map_err(|e| No(db_err(e)))?;
    let (size, epoch): (i64, i64) = (state.get(0), state.get(1));
    if epoch != r.epoch {
        return Err(No(StoreError::NotWriter {
            writer: state.get(2),
        }));
    }
    if size != r.base {
        return Err(No(StoreError::Database(format!(
            "the log holds {size} entries, this writer built on {}",
            r.base
        ))));
    }
    let held = tx
        .query(
            "SELECT claim, idx FROM claims WHERE claim = ANY($1)",
            &[&r.claim.0],
        )
        .await
        .map_err(|e| No(db_err(e)))?;
    if let Some(row) = held.first() {
        let idx: i64 = row.get(1);
        return Err(No(StoreError::AlreadyClaimed {
            claim: "a claim of this batch".into(),
            index: idx as u64,
        }));
    }
    let no = |e| No(db_err(e));
    tx.execute(
        "INSERT INTO entries (idx, leaf, time_ms, kind, bytes) \
         SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bigint[], $4::int[], $5::bytea[])",
        &[&r.idx, &r.leaf, &r.time_ms, &r.kind, &r.bytes],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO entry_parties (party, idx) SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
         ON CONFLICT DO NOTHING",
        &[&r.party.0, &r.party.1],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO claims (claim, idx) SELECT * FROM UNNEST($1::bytea[], $2::bigint[])",
        &[&r.claim.0, &r.claim.1],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO lookups (key, idx) SELECT * FROM UNNEST($1::bytea[], $2::bigint[]) \
         ON CONFLICT DO NOTHING",
        &[&r.lookup.0, &r.lookup.1],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO payloads (commitment, salt, content) \
         SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[]) ON CONFLICT DO NOTHING",
        &[&r.payload.0, &r.payload.1, &r.payload.2],
    )
    .await
    .map_err(no)?;
    // Erasure in the Redaction entry's own transaction: the row is overwritten in place.
    tx.execute(
        "UPDATE payloads SET salt = '', content = '', erased = true \
         WHERE commitment = ANY($1::bytea[])",
        &[&r.erase],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO subtree (level, idx, nodes) \
         SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::bytea[]) \
         ON CONFLICT (level, idx) DO UPDATE SET nodes = subtree.nodes || EXCLUDED.nodes",
        &[&r.tile.0, &r.tile.1, &r.tile.2],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "INSERT INTO checkpoints (size, note) VALUES ($1, $2)",
        &[&r.new_size, &r.note],
    )
    .await
    .map_err(no)?;
    tx.execute(
        "UPDATE tree_state SET size = $1, tip = $2, last_time_ms = $3 WHERE id = 0",
        &[&r.new_size, &r.tip, &r.last_time_ms],
    )
    .await
    .map_err(no)?;
    tx.commit().await.map_err(|e| {
        if e.as_db_error().is_some() {
            // The server answered the COMMIT with an error: it rolled back.
            No(db_err(e))
        } else {
            Failure::Unknown(db_err(e))
        }
    })
}

/// Whether the checkpoint `note` at `size` is in the log: Some(true) it committed,
/// Some(false) it did not, None the database could not be asked within [`RECONCILE_FOR`].
async fn reconcile(pool: &deadpool_postgres::Pool, size: i64, note: &str) -> Option<bool> {
    let deadline = Instant::now() + RECONCILE_FOR;
    while Instant::now() < deadline {
        let asked = async {
            let client = pool.get().await.map_err(pool_err)?;
            client
                .query_opt("SELECT note FROM checkpoints WHERE size = $1", &[&size])
                .await
                .map_err(db_err)
        };
        match asked.await {
            Ok(found) => return Some(found.is_some_and(|row| row.get::<_, String>(0) == note)),
            Err(e) => {
                tracing::warn!(error = %e, "asking whether the batch committed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    None
}
