//! The C2SP tlog-witness `add-checkpoint` request body (c2sp.org/tlog-witness):
//!
//! ```text
//! old <size>\n
//! <base64 consistency proof hash>\n     (zero to 63 lines)
//! \n
//! <the checkpoint note, with its signatures>
//! ```
//!
//! A 200 answer is one or more cosignature lines; a 409 answer is the witness's size and a
//! newline, with `Content-Type: text/x.tlog.size`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{MAX_PROOF_LINES, WitnessError};
use crate::format::Hash;
use crate::format::checkpoint::parse_size;
use crate::format::hash::hash_from_slice;
use crate::format::note::NoteSignature;

/// Content type of a 409 answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// One add-checkpoint request: the size the client believes the witness holds, a consistency
/// proof from there, and the checkpoint to cosign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the witness last cosigned (0 for none).
    pub old_size: u64,
    /// RFC 6962 consistency proof from `old_size` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> String {
        let mut out = format!("old {}\n", self.old_size);
        for h in &self.proof {
            out.push_str(&BASE64.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a request body strictly (canonical decimal, canonical base64 of 32-byte hashes,
    /// at most 63 proof lines); the checkpoint note itself is parsed by the witness.
    pub fn parse(body: &str) -> Result<AddCheckpoint, WitnessError> {
        let bad = |why: &str| WitnessError::Malformed(why.to_owned());
        let (head, checkpoint) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line between the proof and the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("the body does not start with \"old <size>\""))?;
        let old_size = parse_size(old).map_err(|e| bad(&format!("old size: {e}")))?;
        let mut proof = Vec::new();
        for line in lines {
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let h = BASE64
                .decode(line)
                .ok()
                .and_then(|b| hash_from_slice(&b).ok())
                .ok_or_else(|| bad("a consistency proof line is not base64 of 32 bytes"))?;
            proof.push(h);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

/// A 200 answer's body: the cosignature lines.
pub fn cosignatures_body(sigs: &[NoteSignature]) -> String {
    sigs.iter().map(NoteSignature::line).collect()
}

/// Parses a 200 answer's body into signature lines.
pub fn parse_cosignatures(body: &str) -> Result<Vec<NoteSignature>, WitnessError> {
    let body = body.strip_suffix('\n').ok_or_else(|| {
        WitnessError::Malformed("cosignature lines do not end in a newline".into())
    })?;
    body.split('\n')
        .map(|l| {
            NoteSignature::parse_line(l)
                .map_err(|e| WitnessError::Malformed(format!("cosignature line: {e}")))
        })
        .collect()
}

/// Parses a 409 answer's body: the witness's size.
pub fn parse_size_body(body: &str) -> Result<u64, WitnessError> {
    body.strip_suffix('\n')
        .and_then(|s| parse_size(s).ok())
        .ok_or_else(|| WitnessError::Malformed(format!("409 body {body:?} is not \"<size>\\n\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str =
        "o\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} o AAAAAQ==\n";

    #[test]
    fn body_round_trips() {
        for proof in [vec![], vec![[1; 32], [2; 32]]] {
            let req = AddCheckpoint {
                old_size: if proof.is_empty() { 0 } else { 2 },
                proof,
                checkpoint: NOTE.into(),
            };
            assert_eq!(AddCheckpoint::parse(&req.to_body()).unwrap(), req);
        }
        // The spec's layout, byte for byte.
        let req = AddCheckpoint {
            old_size: 20852014,
            proof: vec![[0; 32]],
            checkpoint: NOTE.into(),
        };
        assert_eq!(
            req.to_body(),
            format!("old 20852014\n{}\n\n{NOTE}", BASE64.encode([0; 32]))
        );
    }

    #[test]
    fn bad_bodies_refused() {
        let h = BASE64.encode([0; 32]);
        for body in [
            format!("old 01\n\n{NOTE}"),
            format!("old -1\n\n{NOTE}"),
            format!("old  1\n\n{NOTE}"),
            format!("new 1\n\n{NOTE}"),
            format!("old 1\n{}\n\n{NOTE}", &h[..20]),
            format!("old 1\n{h}\n{NOTE}"),
            format!("old 1\n{}\n{NOTE}", format!("{h}\n").repeat(64)),
        ] {
            assert!(
                matches!(AddCheckpoint::parse(&body), Err(WitnessError::Malformed(_))),
                "accepted {body:?}"
            );
        }
        assert_eq!(parse_size_body("12\n").unwrap(), 12);
        assert!(parse_size_body("12").is_err());
        assert!(parse_cosignatures("\u{2014} w AAAAAQ==").is_err());
    }
}
