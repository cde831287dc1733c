//! A partner's or auditor's side of the API: connecting over mutual TLS, preparing a signed
//! disclosure, and checking what the log hands back. Used by the CLI, the load generator and
//! the tests, so all three speak to the server exactly as a real client would.

use std::path::Path;

use ed25519_dalek::SigningKey;
use prost::Message;
use thiserror::Error;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::{Interceptor, interceptor::InterceptedService};
use tonic::transport::{Channel, Endpoint};

use crate::format::checkpoint::Checkpoint;
use crate::format::entry::NONCE_LEN;
use crate::format::hash::{SALT_LEN, hash_from_slice, item_commitment, leaf_hash};
use crate::format::note::Verifier;
use crate::format::signature::{self, Purpose};
use crate::format::{FormatError, Hash, LeafIndex, TreeSize, inclusion};
use crate::identity::{self, IdentityError};
use crate::pb;
use crate::pb::audit_client::AuditClient;
use crate::pb::ledger_client::LedgerClient;
use crate::pb::reports_client::ReportsClient;
use crate::pb::witness_client::WitnessClient;

/// Why a client could not connect, or could not trust an answer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Keys or certificates could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The address is not a valid URI or the connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The server address.
        addr: String,
        /// The transport's reason.
        source: tonic::transport::Error,
    },
    /// An item is not JSON with a string `type` and `id`.
    #[error("item {index}: {why}")]
    Item {
        /// Position of the item.
        index: usize,
        /// What is wrong with it.
        why: String,
    },
    /// A party name that cannot be sent in a header (names are plain ASCII; see partners.toml).
    #[error("party name {0:?} is not plain ASCII")]
    BadName(String),
    /// The log's answer does not verify: it must not be trusted.
    #[error("the log's answer does not verify: {0}")]
    Unverified(String),
    /// A proof or note failed format checks.
    #[error(transparent)]
    Format(#[from] FormatError),
}

/// A Ledger client as [`connect`] makes it.
pub type Api = LedgerClient<InterceptedService<Channel, Identify>>;

/// The metadata header that names the caller on a plaintext (loopback-only) connection, where
/// there is no client certificate to do it.
pub const PLAINTEXT_IDENTITY_HEADER: &str = "borderlog-as";

/// Names the caller in [`PLAINTEXT_IDENTITY_HEADER`] on plaintext connections; adds nothing
/// over mutual TLS, where the certificate names the caller.
#[derive(Debug, Clone)]
pub struct Identify(Option<MetadataValue<Ascii>>);

impl Interceptor for Identify {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(name) = &self.0 {
            request
                .metadata_mut()
                .insert(PLAINTEXT_IDENTITY_HEADER, name.clone());
        }
        Ok(request)
    }
}

/// Connects to `addr` as party `name`: `127.0.0.1:7455` or `https://...` over mutual TLS with
/// the party's certificate in `keys`; `http://127.0.0.1:7455` in plaintext, to a server started
/// with `serve --plaintext` (loopback only).
pub async fn connect(addr: &str, keys: &Path, name: &str) -> Result<Api, ClientError> {
    let identify = identify(addr, name)?;
    let channel = channel(addr, keys, name).await?;
    Ok(LedgerClient::with_interceptor(channel, identify).max_decoding_message_size(64 << 20))
}

/// An Audit client (exports) as [`connect_audit`] makes it.
pub type AuditApi = AuditClient<InterceptedService<Channel, Identify>>;

/// Connects the `borderlog.v1.Audit` service, like [`connect`] does the Ledger.
pub async fn connect_audit(addr: &str, keys: &Path, name: &str) -> Result<AuditApi, ClientError> {
    let identify = identify(addr, name)?;
    let channel = channel(addr, keys, name).await?;
    Ok(AuditClient::with_interceptor(channel, identify).max_decoding_message_size(64 << 20))
}

/// A Reports client (compliance reports) as [`connect_reports`] makes it.
pub type ReportsApi = ReportsClient<InterceptedService<Channel, Identify>>;

/// Connects the `borderlog.v1.Reports` service, like [`connect`] does the Ledger.
pub async fn connect_reports(
    addr: &str,
    keys: &Path,
    name: &str,
) -> Result<ReportsApi, ClientError> {
    let identify = identify(addr, name)?;
    let channel = channel(addr, keys, name).await?;
    Ok(ReportsClient::with_interceptor(channel, identify).max_decoding_message_size(64 << 20))
}

/// A Witness client (partners' cosignatures) as [`connect_witness`] makes it.
pub type WitnessApi = WitnessClient<InterceptedService<Channel, Identify>>;

/// Connects the `borderlog.v1.Witness` service, like [`connect`] does the Ledger.
pub async fn connect_witness(
    addr: &str,
    keys: &Path,
    name: &str,
) -> Result<WitnessApi, ClientError> {
    let identify = identify(addr, name)?;
    let channel = channel(addr, keys, name).await?;
    Ok(WitnessClient::with_interceptor(channel, identify))
}

/// The interceptor for `addr`: names `name` on plaintext connections, nothing over mTLS.
fn identify(addr: &str, name: &str) -> Result<Identify, ClientError> {
    if !addr.starts_with("http://") {
        return Ok(Identify(None));
    }
    let value = name
        .parse()
        .map_err(|_| ClientError::BadName(name.to_owned()))?;
    Ok(Identify(Some(value)))
}

/// A channel to `addr` as party `name`: mutually authenticated, or plaintext for `http://`.
pub async fn channel(addr: &str, keys: &Path, name: &str) -> Result<Channel, ClientError> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("https://{addr}")
    };
    let connect_err = |source| ClientError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let mut endpoint = Endpoint::from_shared(uri.clone()).map_err(connect_err)?;
    if !uri.starts_with("http://") {
        let tls = identity::tls::client_tls(keys, name)?;
        endpoint = endpoint.tls_config(tls).map_err(connect_err)?;
    }
    endpoint.connect().await.map_err(connect_err)
}

/// What the sender declares about a disclosure, apart from its items.
#[derive(Debug, Clone)]
pub struct DisclosureHeader {
    /// The sending partner.
    pub sender: String,
    /// The receiving partner.
    pub recipient: String,
    /// Why the data is shared.
    pub purpose: String,
    /// Under which law.
    pub legal_basis: String,
    /// The recipient's case reference, if any.
    pub case_reference: String,
}

/// An item's content and what the body declares about it (its STIX type, id and TLP), read
/// from the JSON once: a feed that sends the same kind of object many times describes it once.
#[derive(Debug, Clone)]
pub struct DescribedItem {
    /// The item's STIX JSON bytes.
    pub content: Vec<u8>,
    /// Its `type`.
    pub stix_type: String,
    /// Its `id`.
    pub stix_id: String,
    /// The name of its TLP 2.0 marking, empty when it has none.
    pub tlp: String,
}

impl DescribedItem {
    /// Reads type, id and TLP from the item's JSON; `index` names the item in errors.
    pub fn new(index: usize, content: Vec<u8>) -> Result<DescribedItem, ClientError> {
        let json: serde_json::Value =
            serde_json::from_slice(&content).map_err(|e| ClientError::Item {
                index,
                why: format!("not JSON: {e}"),
            })?;
        let text = |field: &str| {
            json.get(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(DescribedItem {
            stix_type: text("type"),
            stix_id: text("id"),
            tlp: tlp_of(&json).unwrap_or_default().to_owned(),
            content,
        })
    }
}

/// Builds a signed SubmitRequest: a fresh salt per item, a fresh nonce, the sender's
/// signature over the body bytes. `tlp_of` names each item's TLP for the body.
pub fn prepare_submission(
    key: &SigningKey,
    header: &DisclosureHeader,
    items: Vec<Vec<u8>>,
    client_time_ms: i64,
) -> Result<pb::SubmitRequest, ClientError> {
    let items = items
        .into_iter()
        .enumerate()
        .map(|(index, content)| DescribedItem::new(index, content))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(prepare_described(key, header, items, client_time_ms))
}

/// [`prepare_submission`] with a given nonce (16 to 64 bytes). The ledger accepts a (sender,
/// nonce) pair once, so a nonce derived from the content (as the TAXII gateway derives it
/// from an envelope) makes a second submission of the same content a refused replay.
pub fn prepare_submission_with_nonce(
    key: &SigningKey,
    header: &DisclosureHeader,
    items: Vec<Vec<u8>>,
    client_time_ms: i64,
    nonce: &[u8],
) -> Result<pb::SubmitRequest, ClientError> {
    let items = items
        .into_iter()
        .enumerate()
        .map(|(index, content)| DescribedItem::new(index, content))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(prepare_described_with_nonce(
        key,
        header,
        items,
        client_time_ms,
        nonce,
    ))
}

/// [`prepare_submission`] for items already described.
pub fn prepare_described(
    key: &SigningKey,
    header: &DisclosureHeader,
    items: Vec<DescribedItem>,
    client_time_ms: i64,
) -> pb::SubmitRequest {
    // The shortest nonce the format allows is random enough never to repeat by chance.
    let nonce = random_bytes::<{ *NONCE_LEN.start() }>();
    prepare_described_with_nonce(key, header, items, client_time_ms, &nonce)
}

/// [`prepare_described`] with a given nonce.
fn prepare_described_with_nonce(
    key: &SigningKey,
    header: &DisclosureHeader,
    items: Vec<DescribedItem>,
    client_time_ms: i64,
    nonce: &[u8],
) -> pb::SubmitRequest {
    let mut commitments = Vec::with_capacity(items.len());
    let mut payloads = Vec::with_capacity(items.len());
    for item in items {
        let salt: [u8; SALT_LEN] = random_bytes();
        commitments.push(pb::ItemCommitment {
            commitment: item_commitment(&salt, &item.content).to_vec(),
            stix_id: item.stix_id,
            stix_type: item.stix_type,
            tlp: item.tlp,
        });
        payloads.push(pb::ItemPayload {
            salt: salt.to_vec(),
            content: item.content,
        });
    }
    let body = pb::DisclosureBody {
        sender: header.sender.clone(),
        recipient: header.recipient.clone(),
        purpose: header.purpose.clone(),
        legal_basis: header.legal_basis.clone(),
        case_reference: header.case_reference.clone(),
        client_time_ms,
        nonce: nonce.to_vec(),
        items: commitments,
    }
    .encode_to_vec();
    let signature = signature::sign(key, Purpose::Disclosure, &body).to_vec();
    pb::SubmitRequest {
        body,
        signature,
        items: payloads,
    }
}

/// The TLP name (as `ItemCommitment.tlp` spells it) of the first TLP 2.0 marking on a STIX
/// object. The levels, names and marking ids are the guard's ([`crate::guard::Tlp`]), so the
/// client and the server cannot disagree on them.
pub fn tlp_of(object: &serde_json::Value) -> Option<&'static str> {
    let refs = object.get("object_marking_refs")?.as_array()?;
    refs.iter()
        .filter_map(|r| r.as_str())
        .find_map(crate::guard::Tlp::from_marking_id)
        .map(crate::guard::Tlp::as_str)
}

/// The recipient's receipt signature for the disclosure at `index` with `leaf_hash`.
pub fn sign_receipt(
    key: &SigningKey,
    index: LeafIndex,
    leaf_hash: &Hash,
) -> pb::AcknowledgeRequest {
    let payload = signature::index_and_hash(index.0, leaf_hash);
    pb::AcknowledgeRequest {
        disclosure_index: index.0,
        disclosure_leaf_hash: leaf_hash.to_vec(),
        signature: signature::sign(key, Purpose::Receipt, &payload).to_vec(),
    }
}

/// The data owner's request to erase the item with `commitment` of the disclosure at
/// `index`, signed over the index and the commitment (purpose "redaction").
pub fn sign_redaction(
    key: &SigningKey,
    index: LeafIndex,
    commitment: &Hash,
    reason: &str,
) -> pb::RedactRequest {
    let payload = signature::index_and_hash(index.0, commitment);
    pb::RedactRequest {
        disclosure_index: index.0,
        commitment: commitment.to_vec(),
        reason: reason.to_owned(),
        signature: signature::sign(key, Purpose::Redaction, &payload).to_vec(),
    }
}

/// A KeyChange for `party` signed by `key` (the key in force): a new key (rotation), or none
/// (revocation). For the log's own rotation, `party` is the log's origin.
pub fn sign_key_change(
    key: &SigningKey,
    party: &str,
    new_key: Option<&ed25519_dalek::VerifyingKey>,
) -> pb::KeyChange {
    let new_public_key = new_key.map_or_else(Vec::new, |k| k.to_bytes().to_vec());
    pb::KeyChange {
        party: party.to_owned(),
        signature: signature::sign(key, Purpose::KeyChange, &new_public_key).to_vec(),
        new_public_key,
    }
}

/// Checks a LogReceipt end to end: the checkpoint is signed by the log, the entry bytes hash
/// to the leaf hash, and the inclusion proof leads from that leaf to the checkpoint's root.
pub fn verify_receipt(receipt: &pb::LogReceipt, log: &Verifier) -> Result<Checkpoint, ClientError> {
    ReceiptChecker::new(log.clone()).check(receipt)
}

/// Checks receipts like [`verify_receipt`], opening each distinct checkpoint note once: the
/// receipts of one batch (many, on a SubmitStream) share one checkpoint.
#[derive(Debug)]
pub struct ReceiptChecker {
    log: Verifier,
    last: Option<(String, Checkpoint)>,
}

impl ReceiptChecker {
    /// Checks receipts against the log key `log`.
    pub fn new(log: Verifier) -> ReceiptChecker {
        ReceiptChecker { log, last: None }
    }

    /// Checks one receipt end to end, as [`verify_receipt`] does.
    pub fn check(&mut self, receipt: &pb::LogReceipt) -> Result<Checkpoint, ClientError> {
        let checkpoint = match &self.last {
            Some((note, checkpoint)) if *note == receipt.checkpoint => checkpoint.clone(),
            _ => {
                let (checkpoint, _) = Checkpoint::open(&receipt.checkpoint, &self.log)?;
                self.last = Some((receipt.checkpoint.clone(), checkpoint.clone()));
                checkpoint
            }
        };
        let leaf = hash_from_slice(&receipt.leaf_hash)?;
        if leaf_hash(&receipt.entry) != leaf {
            return Err(ClientError::Unverified(
                "the entry bytes do not hash to the leaf hash".into(),
            ));
        }
        verify_inclusion(
            LeafIndex(receipt.index),
            &leaf,
            &receipt.inclusion_proof,
            &checkpoint,
        )?;
        Ok(checkpoint)
    }
}

/// The gRPC status a SubmitStream answer carries for a failed disclosure: the code, message
/// and error details unary Submit would have ended with.
pub fn submit_error_status(error: &pb::SubmitError) -> Status {
    Status::with_details(
        tonic::Code::from_i32(error.code),
        error.message.clone(),
        error.details.clone().into(),
    )
}

/// Checks an inclusion proof (as the API sends it) against a verified checkpoint.
pub fn verify_inclusion(
    index: LeafIndex,
    leaf: &Hash,
    proof: &[Vec<u8>],
    checkpoint: &Checkpoint,
) -> Result<(), ClientError> {
    let proof = proof
        .iter()
        .map(|h| hash_from_slice(h))
        .collect::<Result<Vec<_>, _>>()?;
    inclusion::verify(
        index,
        TreeSize(checkpoint.size),
        leaf,
        &proof,
        &checkpoint.root,
    )
    .map_err(|e| ClientError::Unverified(format!("inclusion proof: {e}")))
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source is unavailable");
    buf
}
