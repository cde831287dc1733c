//! The log's side of C2SP tlog-witness: after new checkpoints, submit the latest to every
//! witness in `keys/witnesses.toml` with a consistency proof from the size that witness last
//! cosigned, verify the cosignature it returns against its configured key, and store it
//! beside the checkpoint (durably, as a partner's AddCosignature is stored).

use std::sync::Arc;

use tokio::sync::watch;

use super::config::{RemoteWitness, Witnesses};
use super::http::{Answer, WitnessClient};
use super::protocol::AddCheckpoint;
use crate::format::checkpoint::Checkpoint;
use crate::format::note::Verifier;
use crate::format::{TreeSize, cosignature};
use crate::store::LogStore;

/// Runs until the sequencer stops (its size channel closes): one round at start, then one
/// after each change of the log's size, at most one per `push_interval`.
pub async fn run(
    store: Arc<dyn LogStore>,
    log: Verifier,
    mut size: watch::Receiver<u64>,
    config: Witnesses,
) {
    if config.witnesses.is_empty() {
        return;
    }
    let client = WitnessClient::new();
    // The size each witness last cosigned, as far as the log knows (None: ask with old 0).
    let mut known: Vec<Option<u64>> = vec![None; config.witnesses.len()];
    loop {
        size.borrow_and_update();
        match latest(&*store, &log) {
            Ok(Some((note, checkpoint))) => {
                for (w, known) in config.witnesses.iter().zip(known.iter_mut()) {
                    submit(&store, &client, w, known, &note, &checkpoint).await;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("cannot read the latest checkpoint to submit to witnesses: {e}")
            }
        }
        tokio::time::sleep(config.push_interval).await;
        if size.changed().await.is_err() {
            return;
        }
    }
}

fn latest(store: &dyn LogStore, log: &Verifier) -> Result<Option<(String, Checkpoint)>, String> {
    let Some(note) = store.checkpoint(None).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let (checkpoint, _) = Checkpoint::open(&note, log).map_err(|e| e.to_string())?;
    Ok(Some((note, checkpoint)))
}

/// One witness, one checkpoint: at most two requests (the second after a 409 told us the
/// witness's size).
async fn submit(
    store: &Arc<dyn LogStore>,
    client: &WitnessClient,
    w: &RemoteWitness,
    known: &mut Option<u64>,
    note: &str,
    checkpoint: &Checkpoint,
) {
    let size = checkpoint.size;
    for _ in 0..2 {
        let old = known.unwrap_or(0);
        if old > size {
            tracing::error!(
                witness = %w.url,
                "the witness has cosigned tree size {old}, beyond this log's {size}: it has seen \
                 a larger checkpoint of this origin (a rollback of this log, or another log with its origin)"
            );
            return;
        }
        let proof = if old == 0 || old == size {
            Vec::new()
        } else {
            let s = store.clone();
            match tokio::task::spawn_blocking(move || {
                s.consistency_proof(TreeSize(old), TreeSize(size))
            })
            .await
            {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => {
                    tracing::warn!(witness = %w.url, "consistency proof {old} -> {size}: {e}");
                    return;
                }
                Err(e) => {
                    tracing::warn!(witness = %w.url, "consistency proof task failed: {e}");
                    return;
                }
            }
        };
        let request = AddCheckpoint {
            old_size: old,
            proof,
            checkpoint: note.to_owned(),
        };
        match client.add_checkpoint(&w.url, &request).await {
            Ok(Answer::Cosigned(sigs)) => {
                *known = Some(size);
                store_valid(store, w, &sigs, checkpoint).await;
                return;
            }
            Ok(Answer::Conflict(held)) => {
                tracing::debug!(witness = %w.url, held, "the witness holds another size; asking again from it");
                *known = Some(held);
            }
            Ok(Answer::Refused { status, message }) => {
                tracing::warn!(witness = %w.url, status, "the witness refused checkpoint {size}: {}", message.trim_end());
                *known = None;
                return;
            }
            Err(e) => {
                tracing::warn!("{e}");
                *known = None;
                return;
            }
        }
    }
}

/// Stores the cosignatures by the witness's configured key that verify; ignores the rest, as
/// tlog-witness asks of clients.
async fn store_valid(
    store: &Arc<dyn LogStore>,
    w: &RemoteWitness,
    sigs: &[crate::format::note::NoteSignature],
    checkpoint: &Checkpoint,
) {
    let body = checkpoint.body();
    let valid: Vec<_> = sigs
        .iter()
        .filter(|s| w.verifier.matches(s) && cosignature::verify(s, &w.verifier, &body).is_ok())
        .cloned()
        .collect();
    if valid.is_empty() {
        tracing::warn!(
            witness = %w.url,
            key = %w.verifier,
            "the witness answered without a valid cosignature by its configured key"
        );
        return;
    }
    let (s, size) = (store.clone(), TreeSize(checkpoint.size));
    let stored = tokio::task::spawn_blocking(move || {
        valid
            .iter()
            .map(|sig| s.add_cosignature(size, sig))
            .collect::<Result<Vec<bool>, _>>()
    })
    .await;
    match stored {
        Ok(Ok(_)) => {
            tracing::info!(witness = %w.url, size = size.0, "stored the witness's cosignature")
        }
        Ok(Err(e)) => tracing::warn!(witness = %w.url, "storing its cosignature failed: {e}"),
        Err(e) => tracing::warn!(witness = %w.url, "storing its cosignature failed: {e}"),
    }
}
