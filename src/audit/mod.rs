//! Auditing the ledger from the outside: exports (a self-contained archive of the log up to a
//! checkpoint, docs/FORMAT.md) and their verification.
//!
//! - [`batch`]: Ed25519 batch verification with each key's terms summed, for [`verify`].
//! - [`export`]: the archive's framing — length-delimited `ExportRecord`s — read and written.
//! - `spill`: [`verify`]'s whole-life checks past its memory budget, by a sort-merge on a
//!   temporary file.
//! - [`synthetic`]: a signed ledger built in memory, for tests and the speed benchmark.
//! - [`verify`]: every check an auditor makes, pure over records (no I/O), in one pass.

pub mod batch;
pub mod export;
mod spill;
pub mod synthetic;
pub mod verify;
