//! The server's retention schedule: every interval, erase what has expired under each owner's
//! policy, each erasure a Redaction entry with reason "retention" signed by the owner's key.
//!
//! The server can sign only for owners whose partner key is in its keys directory (the dev
//! setup made by `init` holds every key there). In production the owner keeps its key and runs
//! `borderlog retention run` itself; the schedule then finds no key and stays off.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::task::JoinSet;
use tonic::Status;

use super::State;
use super::cmd::{off_runtime, redact};
use crate::format::signature::{self, Purpose};
use crate::pb;
use crate::retention;

/// The reason every scheduled erasure records.
pub const RETENTION_REASON: &str = "retention";

/// Redactions in flight at once: enough to fill the sequencer's batches, bounded in memory.
const IN_FLIGHT: usize = 256;

/// Owners the server can sign redactions for, with their keys.
#[derive(Clone, Default)]
pub(crate) struct OwnerKeys(pub Vec<(String, SigningKey)>);

/// Erases every payload expired at `now_ms` of the owners in `keys`; returns the receipts of
/// the Redaction entries (new ones, or the earlier ones of items erased meanwhile).
pub(crate) async fn run_once(
    state: &Arc<State>,
    keys: &OwnerKeys,
    now_ms: i64,
) -> Result<Vec<pb::LogReceipt>, Status> {
    let mut receipts = Vec::new();
    for (owner, key) in &keys.0 {
        let scan_state = state.clone();
        let scan_owner = owner.clone();
        let expired = tokio::task::spawn_blocking(move || {
            retention::expired(&*scan_state.store, Some(&scan_owner), now_ms)
        })
        .await
        .map_err(|e| Status::internal(format!("the retention scan failed: {e}")))??;
        let mut pending = JoinSet::new();
        for item in expired {
            if pending.len() >= IN_FLIGHT
                && let Some(done) = pending.join_next().await
            {
                receipts.push(joined(done)?);
            }
            let payload = signature::index_and_hash(item.disclosure_index.0, &item.commitment);
            let request = pb::RedactRequest {
                disclosure_index: item.disclosure_index.0,
                commitment: item.commitment.to_vec(),
                reason: RETENTION_REASON.into(),
                signature: signature::sign(key, Purpose::Redaction, &payload).to_vec(),
            };
            let (state, owner) = (state.clone(), owner.clone());
            pending.spawn(async move {
                // The checks read the store: on the blocking pool, as a Redact call's do.
                let s = state.clone();
                let checked = off_runtime(move || redact::check(&s, &owner, request)).await?;
                redact::apply(&state, checked).await
            });
        }
        while let Some(done) = pending.join_next().await {
            receipts.push(joined(done)?);
        }
    }
    Ok(receipts)
}

fn joined(
    done: Result<Result<pb::LogReceipt, Status>, tokio::task::JoinError>,
) -> Result<pb::LogReceipt, Status> {
    done.map_err(|e| Status::internal(format!("a retention erasure task failed: {e}")))?
}

/// Runs [`run_once`] with the wall clock now and then every `interval`, until aborted.
pub(crate) async fn schedule(state: Arc<State>, keys: OwnerKeys, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match run_once(&state, &keys, crate::clock::now_ms()).await {
            Ok(r) if r.is_empty() => tracing::debug!("retention: nothing expired"),
            Ok(r) => tracing::info!(erased = r.len(), "retention: erased expired payloads"),
            Err(e) => tracing::error!(error = %e, "retention run failed; retrying next interval"),
        }
    }
}
