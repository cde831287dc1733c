//! Merkle nodes from the `subtree` tiles: one row holds [`TILE`] node hashes of one level.
//!
//! Which nodes a root or a proof reads depends only on indexes and sizes, never on hash
//! values, so [`with_nodes`] runs the computation twice: once to learn which tiles it needs
//! (every node answered with zeros), then, with those tiles fetched in one query, for real.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::format::hash::{Hash, ZERO_HASH};
use crate::format::tree::{NodeId, NodeSource};

use super::{PgStore, db_err, pool_err};
use crate::store::StoreError;

/// Node hashes per tile row.
pub(super) const TILE: u64 = 256;

/// A tile's key: (level, tile index).
type TileKey = (i16, i64);

fn tile_of(id: NodeId) -> (TileKey, usize) {
    (
        (i16::from(id.level), (id.index / TILE) as i64),
        (id.index % TILE) as usize * 32,
    )
}

/// Nodes served from fetched tiles; while `recording`, unknown nodes are noted and read as
/// zeros.
#[derive(Default)]
pub(super) struct TileNodes {
    recording: bool,
    wanted: RefCell<BTreeSet<TileKey>>,
    tiles: HashMap<TileKey, Vec<u8>>,
}

impl NodeSource for TileNodes {
    type Error = StoreError;

    fn node(&self, id: NodeId) -> Result<Hash, StoreError> {
        let (key, at) = tile_of(id);
        let found = self
            .tiles
            .get(&key)
            .and_then(|t| t.get(at..at + 32))
            .map(|h| h.try_into().expect("a 32-byte slice"));
        match found {
            Some(hash) => Ok(hash),
            None if self.recording => {
                self.wanted.borrow_mut().insert(key);
                Ok(ZERO_HASH)
            }
            None => Err(StoreError::Database(format!(
                "Merkle node {} of level {} is missing from the subtree tiles",
                id.index, id.level
            ))),
        }
    }
}

/// Fetches the tiles named by `wanted`, in one query.
pub(super) async fn fetch(
    client: &tokio_postgres::Client,
    wanted: &BTreeSet<TileKey>,
) -> Result<HashMap<TileKey, Vec<u8>>, StoreError> {
    let (levels, idxs): (Vec<i16>, Vec<i64>) = wanted.iter().copied().unzip();
    let rows = client
        .query(
            "SELECT s.level, s.idx, s.nodes FROM subtree s \
             JOIN UNNEST($1::smallint[], $2::bigint[]) AS w(level, idx) \
             ON s.level = w.level AND s.idx = w.idx",
            &[&levels, &idxs],
        )
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                (r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?),
                r.try_get(2).map_err(db_err)?,
            ))
        })
        .collect()
}

/// Runs `f` (a root, proof or frontier computation) over the nodes it needs, fetched with
/// `client`.
pub(super) async fn compute<R>(
    client: &tokio_postgres::Client,
    f: impl Fn(&TileNodes) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    let mut nodes = TileNodes {
        recording: true,
        ..TileNodes::default()
    };
    f(&nodes)?;
    let wanted = nodes.wanted.take();
    nodes.tiles = fetch(client, &wanted).await?;
    nodes.recording = false;
    f(&nodes)
}

/// [`compute`] for the synchronous read paths.
pub(super) fn with_nodes<R: Send + 'static>(
    store: &PgStore,
    f: impl Fn(&TileNodes) -> Result<R, StoreError> + Send + 'static,
) -> Result<R, StoreError> {
    let pool = store.shared.pool.clone();
    store.block(async move {
        let client = pool.get().await.map_err(pool_err)?;
        compute(&client, f).await
    })
}

/// The tile rows a batch's new nodes extend: (level, tile index) -> the bytes to append,
/// nodes given in the order `Frontier::push` made them (ascending within a level).
pub(super) fn tile_appends<'a>(
    nodes: impl IntoIterator<Item = &'a (NodeId, Hash)>,
) -> BTreeMap<TileKey, Vec<u8>> {
    let mut out: BTreeMap<TileKey, Vec<u8>> = BTreeMap::new();
    for (id, hash) in nodes {
        out.entry(tile_of(*id).0)
            .or_default()
            .extend_from_slice(hash);
    }
    out
}
