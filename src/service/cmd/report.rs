//! GetReport: a compliance disclosure report for a period, built from the ledger up to a signed
//! checkpoint by the pure `report::build` (which also runs the audit verifier over that
//! export), returned in its self-proving JSON form.
//!
//! Only the compliance role may call it. Partners are refused rather than given a filtered
//! report: the report proves it is complete by embedding every entry of the period, and a
//! partner may not read the entries it takes no part in; partners check their own side with
//! `export` and `verify`. Auditors and everyone else get PERMISSION_DENIED too.

use std::sync::Arc;

use tokio_stream::StreamExt;
use tonic::Status;

use super::export;
use crate::audit::verify::VerifyOptions;
use crate::pb::{self, Role};
use crate::report::{self, Bucket, Profile, Scope, render};
use crate::service::access::{self, Caller};
use crate::service::{RequestError, State};

/// Worker threads for the report's audit pass: the machine's cores, at most four.
fn verify_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Parses a request into the report's scope and profile.
fn parse(state: &State, request: &pb::ReportRequest) -> Result<(Scope, Profile), RequestError> {
    let partner = if request.partner.is_empty() {
        None
    } else {
        access::partner(state, &request.partner, "partner")?;
        Some(request.partner.clone())
    };
    let bucket: Bucket = request
        .bucket
        .parse()
        .map_err(|e: report::ReportError| RequestError::invalid("bucket", e.to_string()))?;
    let profile = if request.profile.is_empty() {
        Profile::default_profile()
    } else {
        Profile::parse(&request.profile)
            .map_err(|e| RequestError::invalid("profile", e.to_string()))?
    };
    let scope = Scope {
        from_ms: request.from_ms,
        to_ms: request.to_ms,
        partner,
        bucket,
    };
    // Before the export is read: an empty period, or one past year 9999, is the caller's.
    scope
        .check()
        .map_err(|e| RequestError::invalid("from_ms, to_ms", e.to_string()))?;
    Ok((scope, profile))
}

/// Handles one GetReport call: checks the caller, streams the export up to the checkpoint,
/// and builds the report off the async runtime (the audit pass verifies every signature).
pub async fn handle(
    state: Arc<State>,
    caller: Caller,
    request: pb::ReportRequest,
) -> Result<pb::ReportResponse, Status> {
    caller.require(Role::Compliance, "GetReport")?;
    let (scope, profile) = parse(&state, &request)?;
    let mut stream = export::handle(
        state.clone(),
        caller.clone(),
        pb::ExportRequest {
            tree_size: request.tree_size,
        },
    )
    .await?;
    let mut records = Vec::new();
    while let Some(record) = stream.next().await {
        records.push(record?);
    }
    let built = tokio::task::spawn_blocking(move || {
        let opts = VerifyOptions {
            threads: verify_threads(),
            ..VerifyOptions::default()
        };
        let report = report::build(
            records,
            scope,
            profile,
            &caller.name,
            crate::clock::now_ms(),
            opts,
        )?;
        render::render(&report, render::Format::Json)
    })
    .await
    .map_err(|e| Status::internal(format!("the report task failed: {e}")))??;
    Ok(pb::ReportResponse { report_json: built })
}
