//! The PostgreSQL store's reads that take more than one statement or some decoding.

use crate::format::hash::{Hash, SALT_LEN};
use crate::format::note::NoteSignature;
use crate::format::tree::{LeafIndex, TreeSize};
use crate::pb;

use super::{Param, PgStore, db_err, pool_err, refs};
use crate::store::{LogStore, Payload, StoreError};

/// A 32-byte hash from column `i`.
pub(super) fn hash_at(row: &tokio_postgres::Row, i: usize) -> Result<Hash, StoreError> {
    let bytes: Vec<u8> = row.try_get(i).map_err(db_err)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Database(format!("column {i} is not a 32-byte hash")))
}

/// A `usize` limit as SQL's bigint (`usize::MAX`: no limit).
pub(super) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Lookup key of a STIX id.
pub(super) fn stix_key(stix_id: &str) -> Vec<u8> {
    [b"s".as_slice(), stix_id.as_bytes()].concat()
}

/// Lookup key of an item commitment.
pub(super) fn commitment_key(commitment: &Hash) -> Vec<u8> {
    [b"c".as_slice(), commitment.as_slice()].concat()
}

pub(super) fn check_size(store: &PgStore, size: TreeSize) -> Result<(), StoreError> {
    let current = store.size().0;
    if size.0 > current {
        return Err(StoreError::TreeSize {
            size: size.0,
            current,
        });
    }
    Ok(())
}

/// Visible indexes stored under a lookup key, ascending.
pub(super) fn looked_up(store: &PgStore, key: Vec<u8>) -> Result<Vec<LeafIndex>, StoreError> {
    store.indexes(
        "SELECT idx FROM lookups WHERE key = $1 AND idx < $2 ORDER BY idx",
        vec![Box::new(key), Box::new(store.size_param())],
    )
}

pub(super) fn scan(
    store: &PgStore,
    from: LeafIndex,
    party: Option<&str>,
    kinds: &[pb::EntryKind],
    limit_to: usize,
) -> Result<Vec<LeafIndex>, StoreError> {
    let size = store.size().0;
    if limit_to == 0 || from.0 >= size {
        return Ok(Vec::new());
    }
    if party.is_none() && kinds.is_empty() {
        let end = size.min(from.0.saturating_add(limit_to as u64));
        return Ok((from.0..end).map(LeafIndex).collect());
    }
    let kinds: Vec<i32> = kinds.iter().map(|k| *k as i32).collect();
    let mut params: Vec<Param> = vec![
        Box::new(from.0 as i64),
        Box::new(size as i64),
        Box::new(limit(limit_to)),
        Box::new(kinds),
    ];
    match party {
        Some(party) => {
            params.push(Box::new(party.to_owned()));
            store.indexes(
                "SELECT p.idx FROM entry_parties p JOIN entries e ON e.idx = p.idx \
                 WHERE p.party = $5 AND p.idx >= $1 AND p.idx < $2 \
                 AND (cardinality($4::int[]) = 0 OR e.kind = ANY($4)) \
                 ORDER BY p.idx LIMIT $3",
                params,
            )
        }
        None => store.indexes(
            "SELECT idx FROM entries WHERE idx >= $1 AND idx < $2 AND kind = ANY($4) \
             ORDER BY idx LIMIT $3",
            params,
        ),
    }
}

pub(super) fn payload(store: &PgStore, commitment: &Hash) -> Result<Option<Payload>, StoreError> {
    let rows = store.rows(
        "SELECT salt, content FROM payloads WHERE commitment = $1 AND NOT erased",
        vec![Box::new(commitment.to_vec())],
    )?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let salt: Vec<u8> = row.try_get(0).map_err(db_err)?;
    let salt: [u8; SALT_LEN] = salt
        .try_into()
        .map_err(|_| StoreError::Database("a payload's salt has the wrong length".into()))?;
    Ok(Some(Payload {
        commitment: *commitment,
        salt,
        content: row.try_get(1).map_err(db_err)?,
    }))
}

/// Stores a cosignature once per (size, key id, name). Any process may store one (each pushes
/// checkpoints to the witnesses): it is not part of the chain, and storing is idempotent.
pub(super) fn add_cosignature(
    store: &PgStore,
    size: TreeSize,
    sig: &NoteSignature,
) -> Result<bool, StoreError> {
    if size.0 == 0 || store.checkpoint(Some(size))?.is_none() {
        return Err(StoreError::NoCheckpoint { size: size.0 });
    }
    let key = crate::store::index::cosignature_key(size.0, sig);
    let params: Vec<Param> = vec![Box::new(key), Box::new(size.0 as i64), Box::new(sig.line())];
    let pool = store.shared.pool.clone();
    let inserted = store.block(async move {
        let client = pool.get().await.map_err(pool_err)?;
        client
            .execute(
                "INSERT INTO cosignatures (key, size, line) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &refs(&params),
            )
            .await
            .map_err(db_err)
    })?;
    Ok(inserted == 1)
}

pub(super) fn cosignatures(
    store: &PgStore,
    size: TreeSize,
) -> Result<Vec<NoteSignature>, StoreError> {
    store
        .rows(
            "SELECT line FROM cosignatures WHERE size = $1 ORDER BY key",
            vec![Box::new(size.0 as i64)],
        )?
        .iter()
        .map(|r| {
            let line: String = r.try_get(0).map_err(db_err)?;
            line.strip_suffix('\n')
                .and_then(|l| NoteSignature::parse_line(l).ok())
                .ok_or_else(|| {
                    StoreError::Database(format!(
                        "a stored cosignature of tree size {} is malformed",
                        size.0
                    ))
                })
        })
        .collect()
}
