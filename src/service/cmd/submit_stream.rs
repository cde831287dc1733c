//! SubmitStream: a partner's feed of signed disclosures on one bidirectional stream.
//!
//! Each disclosure goes through exactly the checks and the append of unary Submit
//! (`submit.rs`: parse → verify → check payloads → screen and append → reply); the signatures
//! of the disclosures that arrived together are verified as one batch (`signatures.rs`).
//!
//! Four steps run concurrently, joined by bounded queues, so one stream holds about
//! [`WINDOW`] disclosures at most: a reader takes requests off the wire; a dispatcher parses and
//! verifies what has arrived and starts each disclosure's screening as a task of its own
//! (screened on every core); an appender queues the screened entries to the sequencer in
//! request order (so the log holds them in the order sent, and the sequencer groups them into
//! batches); a responder answers in request order as each entry becomes durable. When the
//! window is full the reader stops reading and HTTP/2 flow control holds the sender back.
//!
//! Only a disclosure whose policy changed between its screening and its append (a
//! PolicyChange sequenced meanwhile) is screened and appended again on its own, as Submit
//! would, and may then land after disclosures sent after it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::Status;

use super::signatures::{GATHER, verify_all};
use super::submit::{self, Answer};
use crate::pb::{self, Role};
use crate::sequencer::{Append, Queued, SequencerError};
use crate::service::State;
use crate::service::access::Caller;

/// Disclosures of one stream read ahead and not yet answered, about (each queue between the
/// steps holds a share: [`GATHER`], the most parsed and verified together).
pub const WINDOW: usize = 256;

/// The response stream of SubmitStream.
pub type SubmitStream = crate::service::ReplyStream<pb::SubmitStreamResponse>;

/// A disclosure between the dispatcher and the appender.
enum Screening {
    /// Its checks failed: this is its answer.
    Failed(Status),
    /// Being screened.
    Running(JoinHandle<Result<(Append, Answer), Status>>),
    /// The request stream broke: answer what came before, then end the stream with this.
    End(Status),
}

/// A disclosure between the appender and the responder.
enum Pending {
    /// Answered without an append.
    Ready(Result<pb::LogReceipt, Status>),
    /// Queued to the sequencer.
    Appending(Queued, Answer),
    /// The request stream broke.
    End(Status),
}

/// Handles one SubmitStream call: checks the caller may submit, then answers from tasks of
/// the stream's own.
pub fn handle<S>(state: Arc<State>, caller: Caller, requests: S) -> Result<SubmitStream, Status>
where
    S: Stream<Item = Result<pb::SubmitRequest, Status>> + Send + Unpin + 'static,
{
    caller.require(Role::Sender, "SubmitStream")?;
    let slot = state
        .streams
        .acquire(&caller.name, state.limits.max_streams_per_caller)?;
    let (arrived_tx, arrived) = mpsc::channel(GATHER);
    let (screening_tx, screening) = mpsc::channel(GATHER);
    let (pending_tx, pending) = mpsc::channel(WINDOW - 3 * GATHER);
    let (answers_tx, answers) = mpsc::channel(GATHER);
    tokio::spawn(read(requests, arrived_tx));
    tokio::spawn(dispatch(state.clone(), caller, arrived, screening_tx));
    tokio::spawn(append_in_order(state.clone(), screening, pending_tx));
    tokio::spawn(async move {
        let _slot = slot; // held until the last answer is sent
        respond(&state, pending, answers_tx).await;
    });
    Ok(Box::pin(ReceiverStream::new(answers)))
}

/// Takes requests off the wire while the dispatcher has room.
async fn read<S>(mut requests: S, arrived: mpsc::Sender<Result<pb::SubmitRequest, Status>>)
where
    S: Stream<Item = Result<pb::SubmitRequest, Status>> + Unpin,
{
    while let Some(request) = requests.next().await {
        let broke = request.is_err();
        if arrived.send(request).await.is_err() || broke {
            return;
        }
    }
}

/// Parses and verifies what has arrived, a batch at a time, and starts each good
/// disclosure's screening; passes every disclosure on in request order.
async fn dispatch(
    state: Arc<State>,
    caller: Caller,
    mut arrived: mpsc::Receiver<Result<pb::SubmitRequest, Status>>,
    screening: mpsc::Sender<Screening>,
) {
    let mut batch = Vec::with_capacity(GATHER);
    while arrived.recv_many(&mut batch, GATHER).await > 0 {
        let mut end = None;
        let mut parsed = Vec::with_capacity(batch.len());
        for request in batch.drain(..) {
            match request {
                // Every disclosure counts against the caller's request rate, as a call would.
                Ok(request) => parsed.push(
                    state
                        .rates
                        .check(&caller.name)
                        .and_then(|()| submit::parse(&state, &caller, request)),
                ),
                Err(status) => end = Some(status),
            }
        }
        for checked in verify_all(&state, parsed) {
            let next = match checked.and_then(|u| submit::check_payloads(&state, u)) {
                Err(err) => Screening::Failed(err.into()),
                Ok(submission) => {
                    let state = state.clone();
                    Screening::Running(tokio::spawn(async move {
                        submit::screen_in_force(&state, Arc::new(submission)).await
                    }))
                }
            };
            if screening.send(next).await.is_err() {
                return; // the client is gone
            }
        }
        if let Some(status) = end {
            let _ = screening.send(Screening::End(status)).await;
            return;
        }
    }
}

/// Queues each screened entry to the sequencer in request order.
async fn append_in_order(
    state: Arc<State>,
    mut screening: mpsc::Receiver<Screening>,
    pending: mpsc::Sender<Pending>,
) {
    while let Some(next) = screening.recv().await {
        let next = match next {
            Screening::Failed(status) => Pending::Ready(Err(status)),
            Screening::End(status) => Pending::End(status),
            Screening::Running(task) => match task.await {
                Err(e) => {
                    Pending::Ready(Err(Status::internal(format!("screening task failed: {e}"))))
                }
                Ok(Err(status)) => Pending::Ready(Err(status)),
                Ok(Ok((append, answer))) => match state.sequencer.enqueue(append).await {
                    Ok(queued) => Pending::Appending(queued, answer),
                    Err(err) => Pending::Ready(Err(err.into())),
                },
            },
        };
        if pending.send(next).await.is_err() {
            return;
        }
    }
}

/// Answers each disclosure in request order, as soon as its own answer is known.
async fn respond(
    state: &Arc<State>,
    mut pending: mpsc::Receiver<Pending>,
    answers: mpsc::Sender<Result<pb::SubmitStreamResponse, Status>>,
) {
    let mut position = 0u64;
    while let Some(next) = pending.recv().await {
        let result = match next {
            Pending::Ready(result) => result,
            Pending::Appending(queued, answer) => match queued.durable().await {
                Err(SequencerError::PolicyChanged { .. }) => {
                    submit::apply_again(state, answer).await
                }
                Err(err) => Err(err.into()),
                Ok(appended) => answer.reply(state, appended).await,
            },
            Pending::End(status) => {
                let _ = answers.send(Err(status)).await;
                return;
            }
        };
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        state.metrics.request("SubmitStream item", code);
        let result = Some(match result {
            Ok(receipt) => pb::submit_stream_response::Result::Receipt(receipt),
            Err(status) => pb::submit_stream_response::Result::Error(pb::SubmitError {
                code: status.code() as i32,
                message: status.message().to_owned(),
                details: status.details().to_vec(),
            }),
        });
        if answers
            .send(Ok(pb::SubmitStreamResponse { position, result }))
            .await
            .is_err()
        {
            return; // the client is gone; the tasks still running finish on their own
        }
        position += 1;
    }
}
