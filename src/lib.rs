//! borderlog: an append-only, hash-chained, signed ledger of intelligence shared across an
//! organisational boundary.
//!
//! Where things live:
//! - [`format`]: the byte-level log format — leaf hashes, the RFC 6962 tree and its proofs,
//!   signed notes, checkpoints, cosignatures, domain-separated signatures. Pure, no I/O.
//! - [`store`]: durable storage — checksummed segment files (the truth) and the index derived
//!   from them (column files and fjall), or PostgreSQL.
//! - [`sequencer`]: the one task that appends, in group-committed batches.
//! - [`guard`]: the boundary policy that screens every item before it crosses.
//! - [`retention`]: which stored payloads have outlived their owner's retention rules.
//! - [`identity`]: parties, keys, certificates and TLS.
//! - [`keys_in_force`]: which key each partner and the log signs with, as KeyChanges rotate and
//!   revoke them.
//! - [`service`]: the gRPC service, one file per call in `service/cmd/`.
//! - [`taxii`]: TAXII 2.1 over HTTPS — the ledger's read side and the sender's gateway.
//! - [`metrics`]: Prometheus metrics on their own loopback port.
//! - [`client`]: a connected, authenticated client for the CLI, the bench and tests.
//! - [`witness`]: partners and other witnesses cosigning checkpoints (C2SP cosignature/v1,
//!   tlog-witness over HTTP both ways).
//! - [`audit`]: exports of the ledger and their offline verification.
//! - [`report`]: compliance disclosure reports that carry their own proof.
//! - [`cli`]: the `borderlog` command line.
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod client;
pub mod clock;
pub mod format;
pub mod guard;
pub mod identity;
pub mod keys_in_force;
pub mod metrics;
pub mod pb;
pub mod report;
pub mod retention;
pub mod sequencer;
pub mod service;
pub mod store;
pub mod taxii;
pub mod witness;
