//! The writer role: a session-level advisory lock on a connection of its own, and an epoch.
//!
//! Every [`TICK`](super::TICK) the lease task reads `tree_state` (the readers' visible size
//! and the writer's name) on its session, and, while this process does not write, tries the
//! lock. Taking it means bumping `tree_state.epoch` and loading the tree's frontier: from then
//! on only this process's append transactions pass the epoch check. PostgreSQL releases the
//! lock when the session ends — the process died, or its connection was lost or terminated —
//! and the next reader to try takes the role. A writer whose session is lost drops its state
//! at once; should one of its appends still reach the database, the epoch check refuses it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;

use tokio_postgres::{Client, NoTls};

use crate::format::tree::{Frontier, TreeSize};
use crate::store::StoreError;

use super::{Shared, TICK, WRITER_LOCK, Writing, db_err, tiles};

/// Runs for the store's lifetime. `decided` hears once, after the first round that settled
/// whether this process writes (or the first failure to reach the database).
pub(super) async fn run(
    shared: Arc<Shared>,
    config: tokio_postgres::Config,
    decided: SyncSender<Result<(), StoreError>>,
) {
    let mut decided = Some(decided);
    loop {
        match config.connect(NoTls).await {
            Ok((client, conn)) => {
                let conn = tokio::spawn(conn);
                let err = hold(&shared, &client, &mut decided).await;
                drop_role(&shared, &err);
                if let Some(d) = decided.take() {
                    let _ = d.send(Err(err));
                }
                conn.abort();
            }
            Err(e) => {
                if let Some(d) = decided.take() {
                    let _ = d.send(Err(db_err(e)));
                }
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Gives up the writer's state after its lock session ended.
fn drop_role(shared: &Shared, why: &StoreError) {
    shared.connected.store(false, Ordering::Release);
    if shared.writing().take().is_some() {
        tracing::error!(error = %why, "lost the database session holding the writer role; appends stop until it is taken again");
    }
}

/// Serves on one session until a query on it fails; returns that failure.
async fn hold(
    shared: &Shared,
    client: &Client,
    decided: &mut Option<SyncSender<Result<(), StoreError>>>,
) -> StoreError {
    loop {
        if let Err(e) = round(shared, client).await {
            return e;
        }
        shared.connected.store(true, Ordering::Release);
        if let Some(d) = decided.take() {
            let _ = d.send(Ok(()));
        }
        tokio::time::sleep(TICK).await;
    }
}

/// One round: refresh what readers see, and take the role if it is free.
async fn round(shared: &Shared, client: &Client) -> Result<(), StoreError> {
    let state = client
        .query_one("SELECT size, writer FROM tree_state WHERE id = 0", &[])
        .await
        .map_err(db_err)?;
    let size: i64 = state.get(0);
    shared.size.fetch_max(size as u64, Ordering::AcqRel);
    *shared.writer.write().unwrap_or_else(|e| e.into_inner()) = state.get(1);
    // Busy: an append is running, so this process writes (and a worker thread of the
    // store's runtime is better not blocked on it).
    let writes = match shared.writing.try_lock() {
        Ok(w) => w.is_some(),
        Err(std::sync::TryLockError::WouldBlock) => true,
        Err(std::sync::TryLockError::Poisoned(w)) => w.into_inner().is_some(),
    };
    if writes {
        return Ok(());
    }
    // Session-level locks stack: a writer that dropped its state (an append's outcome was
    // unknown) takes the role again on its own session.
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
        .await
        .map_err(db_err)?
        .get(0);
    if locked {
        take_over(shared, client).await?;
    }
    Ok(())
}

/// Bumps the epoch and loads the tree's state: this process is the writer from now on.
async fn take_over(shared: &Shared, client: &Client) -> Result<(), StoreError> {
    let row = client
        .query_one(
            "UPDATE tree_state SET epoch = epoch + 1, writer = $1 WHERE id = 0 \
             RETURNING epoch, size, tip, last_time_ms",
            &[&shared.name],
        )
        .await
        .map_err(db_err)?;
    let (epoch, size): (i64, i64) = (row.get(0), row.get(1));
    let tip = super::read::hash_at(&row, 2)?;
    let last_time_ms: i64 = row.get(3);
    let size = TreeSize(size as u64);
    let frontier = tiles::compute(client, |nodes| Frontier::load(nodes, size)).await?;
    if frontier.size() != size {
        return Err(StoreError::Database(format!(
            "the subtree tiles hold a tree of {} leaves, tree_state says {}",
            frontier.size().0,
            size.0
        )));
    }
    *shared.writing() = Some(Writing {
        epoch,
        frontier,
        tip,
        last_time_ms,
    });
    shared.size.fetch_max(size.0, Ordering::AcqRel);
    *shared.writer.write().unwrap_or_else(|e| e.into_inner()) = shared.name.clone();
    shared.generation.fetch_add(1, Ordering::AcqRel);
    tracing::info!(
        epoch,
        entries = size.0,
        writer = shared.name,
        "took the writer role"
    );
    Ok(())
}
