//! Disclosure signatures verified several at a time: those of a SubmitStream's disclosures
//! that arrived together, and those of unary Submits that wait together ([`Waiting`]).
//!
//! A batch is checked with the strict batch equation of `audit/batch.rs`, which is cheaper per
//! signature than one verification each; only when it fails (or holds one signature) is each
//! verified alone, so every bad signature gets exactly the error Submit gives it.

use std::sync::{Arc, Mutex, MutexGuard};

use ed25519_dalek::Signature;
use tokio::sync::oneshot;
use tonic::Status;

use super::submit::{self, Unverified};
use crate::service::{RequestError, State};

/// Most signatures verified as one batch.
pub(super) const GATHER: usize = 64;

/// A unary Submit's disclosure waiting for its signature check, and where its answer goes.
type Job = (
    Unverified,
    oneshot::Sender<Result<Unverified, RequestError>>,
);

/// Unary Submits whose signatures wait to be verified. The first to arrive while nobody
/// verifies starts a verifier task; that task takes everything that has queued meanwhile, a
/// batch at a time, until the queue is empty. A caller that gives up leaves nothing hanging:
/// the task is not the caller's.
#[derive(Default)]
pub(crate) struct Waiting(Mutex<Queue>);

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    /// A verifier task is running and will take what is queued.
    verifying: bool,
}

impl Waiting {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Verifies a unary Submit's signature, in one batch with those of the Submits waiting with it.
pub(super) async fn verify(
    state: &Arc<State>,
    unverified: Unverified,
) -> Result<Unverified, Status> {
    let (tx, answer) = oneshot::channel();
    let start = {
        let mut queue = state.signatures.lock();
        queue.jobs.push((unverified, tx));
        !std::mem::replace(&mut queue.verifying, true)
    };
    if start {
        tokio::spawn(verify_waiting(state.clone()));
    }
    match answer.await {
        Ok(checked) => Ok(checked?),
        Err(_) => Err(Status::internal("the signature check stopped")),
    }
}

/// The verifier task: verifies and answers what is queued until nothing is.
async fn verify_waiting(state: Arc<State>) {
    // Let the calls ready to run on this thread queue their signatures first.
    tokio::task::yield_now().await;
    // Should verifying panic, the next Submit starts a task again.
    let _done = Done(&state);
    loop {
        let jobs = {
            let mut queue = state.signatures.lock();
            if queue.jobs.is_empty() {
                queue.verifying = false;
                return;
            }
            let take = queue.jobs.len().min(GATHER);
            queue.jobs.drain(..take).collect::<Vec<_>>()
        };
        let (parsed, answers): (Vec<_>, Vec<_>) =
            jobs.into_iter().map(|(u, tx)| (Ok(u), tx)).unzip();
        for (checked, answer) in verify_all(&state, parsed).into_iter().zip(answers) {
            // A caller that gave up no longer listens.
            let _ = answer.send(checked);
        }
    }
}

/// Clears the running mark if the verifier task unwinds.
struct Done<'a>(&'a State);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.signatures.lock().verifying = false;
        }
    }
}

/// Verifies the signatures of the parsed disclosures as one batch; when the batch fails (or
/// holds one), each is verified alone, so every failure is the one Submit reports.
pub(super) fn verify_all(
    state: &State,
    parsed: Vec<Result<Unverified, RequestError>>,
) -> Vec<Result<Unverified, RequestError>> {
    let ready: Vec<&Unverified> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
    let signatures: Option<Vec<Signature>> = ready
        .iter()
        .map(|u| Signature::from_slice(u.signature()).ok())
        .collect();
    let batch_holds = ready.len() > 1
        && signatures.is_some_and(|signatures| {
            let messages: Vec<Vec<u8>> = ready.iter().map(|u| u.signed_message()).collect();
            let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let keys: Vec<_> = ready.iter().map(|u| *u.sender_key()).collect();
            crate::audit::batch::verify_batch(&messages, &signatures, &keys)
        });
    if batch_holds {
        return parsed;
    }
    parsed
        .into_iter()
        .map(|p| p.and_then(|u| submit::verify_signature(state, &u).map(|()| u)))
        .collect()
}
