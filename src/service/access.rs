//! Who is calling and what they may see.
//!
//! The client certificate names the caller; the log's genesis entry says what that name may do.
//! Partners see the entries they take part in and the payloads of disclosures they sent or
//! received; auditors and compliance officers see every entry's metadata and commitments, but
//! no payload.

use std::collections::HashMap;
use std::sync::RwLock;

use tonic::codegen::http;
use tonic::transport::CertificateDer;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::{Request, Status};

use super::{RequestError, State};
use crate::format::entry::IndexKeys;
use crate::identity::{PartyInfo, role_name};
use crate::pb::{self, Role};

/// An authenticated caller: a party of the log.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The party's name (its certificate's common name).
    pub name: String,
    /// What the genesis entry lets it do.
    pub role: Role,
}

impl Caller {
    /// Establishes the caller from the connection's verified client certificate — or, on a
    /// plaintext loopback server, from the header the client names itself in — and counts the
    /// call against its rate. Runs once per call, in the call layer (`calls.rs`).
    pub(crate) fn authenticate<B>(
        state: &State,
        request: &http::Request<B>,
    ) -> Result<Caller, RequestError> {
        let name = if state.plaintext {
            request
                .headers()
                .get(crate::client::PLAINTEXT_IDENTITY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or(RequestError::NoPlaintextIdentity)?
        } else {
            let certs = request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
                .ok_or(RequestError::NoCertificate)?;
            let leaf = certs.first().ok_or(RequestError::NoCertificate)?;
            state
                .cert_names
                .name(leaf)
                .ok_or(RequestError::NoCertificate)?
        };
        Self::for_party(state, name)
    }

    /// The caller named `name` once a transport has authenticated it (a client certificate,
    /// or TAXII's HTTP Basic credentials): a party of the log, within its request rate.
    pub(crate) fn for_party(state: &State, name: String) -> Result<Caller, RequestError> {
        let party = state
            .registry
            .party(&name)
            .ok_or_else(|| RequestError::UnknownCaller(name.clone()))?;
        tracing::Span::current().record("caller", name.as_str());
        state.rates.check(&name)?;
        Ok(Caller {
            name,
            role: party.role,
        })
    }

    /// The caller the call layer authenticated, from the request's extensions; every
    /// borderlog.v1 service is served behind that layer.
    pub(crate) fn of<T>(request: &Request<T>) -> Result<Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| Status::internal("this call was not authenticated by the call layer"))
    }

    /// True for partners (who sign) as opposed to read-only roles.
    pub fn is_partner(&self) -> bool {
        crate::identity::is_partner(self.role)
    }

    /// Fails unless the caller has `role`, saying what the call needs.
    pub fn require(&self, role: Role, call: &str) -> Result<(), RequestError> {
        if self.role == role {
            return Ok(());
        }
        Err(RequestError::Forbidden(format!(
            "{call} is for the {} role; {} is {}",
            role_name(role),
            self.name,
            role_name(self.role)
        )))
    }

    /// May the caller read this entry's metadata? Partners only read entries they take part
    /// in and entries that name no party (genesis, log-wide records).
    pub fn may_read(&self, keys: &IndexKeys) -> bool {
        !self.is_partner() || keys.parties.is_empty() || keys.parties.contains(&self.name)
    }

    /// [`Caller::may_read`], plus what a partner may read although it is not named in it:
    /// every published policy (it governs what both partners exchange and holds only digests),
    /// and the receipts and redactions of disclosures it takes part in (an acknowledgement
    /// concerns the sender, an erasure the recipient).
    pub(crate) fn may_read_entry(
        &self,
        state: &State,
        entry: &pb::Entry,
        keys: &IndexKeys,
    ) -> Result<bool, tonic::Status> {
        if self.may_read(keys) {
            return Ok(true);
        }
        match &entry.kind {
            // Every verifier needs every key change to check what follows it.
            Some(pb::entry::Kind::PolicyChange(_)) | Some(pb::entry::Kind::KeyChange(_)) => {
                Ok(true)
            }
            Some(pb::entry::Kind::Receipt(pb::Receipt {
                disclosure_index, ..
            }))
            | Some(pb::entry::Kind::Redaction(pb::Redaction {
                disclosure_index, ..
            })) => {
                let index = crate::format::LeafIndex(*disclosure_index);
                let Some(bytes) = state.store.entry(index)? else {
                    return Ok(false);
                };
                let disclosure = crate::format::entry::decode(&bytes)?;
                Ok(self.may_read(&crate::format::entry::index_keys(&disclosure)?))
            }
            _ => Ok(false),
        }
    }

    /// May the caller read the payloads of this disclosure? Its sender and recipient; and
    /// auditors when the node grants it (`auditor_reads_payloads`).
    pub fn may_read_payloads(&self, body: &pb::DisclosureBody, auditor_reads: bool) -> bool {
        match self.role {
            Role::Auditor => auditor_reads,
            _ => self.is_partner() && (body.sender == self.name || body.recipient == self.name),
        }
    }
}

/// The party names of client certificates already seen. Every call on a connection carries the
/// same (TLS-verified) certificate, and parsing it again cost as much as serving a proof.
#[derive(Default)]
pub(crate) struct CertNames(RwLock<HashMap<Vec<u8>, String>>);

impl CertNames {
    /// Names kept at most; past it the map starts afresh (certificates are few: one per party).
    const MAX: usize = 1024;

    /// The common name of `cert`, parsed once per distinct certificate.
    fn name(&self, cert: &CertificateDer<'_>) -> Option<String> {
        if let Some(name) = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(cert.as_ref())
        {
            return Some(name.clone());
        }
        let name = crate::identity::tls::peer_name(std::slice::from_ref(cert))?;
        let mut names = self.0.write().unwrap_or_else(|e| e.into_inner());
        if names.len() >= Self::MAX {
            names.clear();
        }
        names.insert(cert.to_vec(), name.clone());
        Some(name)
    }
}

/// A registered partner by name, with its signing key in force (genesis, then KeyChanges); a
/// revoked partner signs nothing ([`RequestError::Key`], PERMISSION_DENIED).
pub(crate) fn partner<'a>(
    state: &'a State,
    name: &str,
    field: &'static str,
) -> Result<(&'a PartyInfo, ed25519_dalek::VerifyingKey), RequestError> {
    let party = state.registry.party(name).ok_or_else(|| {
        RequestError::invalid(field, format!("{name:?} is not a party of this log"))
    })?;
    if party.public_key.is_none() {
        return Err(RequestError::invalid(
            field,
            format!("{name:?} is a {} and signs nothing", role_name(party.role)),
        ));
    }
    let key = state
        .sequencer
        .with_keys(|keys| keys.signing_key(name))
        .map_err(RequestError::Key)?;
    Ok((party, key))
}

/// Fails when `name` was revoked: nothing is disclosed to a partner that left.
pub(crate) fn not_revoked(state: &State, name: &str) -> Result<(), RequestError> {
    Ok(state.sequencer.with_keys(|keys| keys.may_receive(name))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(common_name: Option<&str>) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::new()).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = common_name {
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
        }
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("cert").der().clone()
    }

    #[test]
    fn each_certificate_keeps_its_own_name() {
        let names = CertNames::default();
        let (alice, bob) = (cert(Some("alice")), cert(Some("bob")));
        for _ in 0..2 {
            assert_eq!(names.name(&alice).as_deref(), Some("alice"));
            assert_eq!(names.name(&bob).as_deref(), Some("bob"));
        }
        assert_eq!(names.name(&cert(None)), None);
        assert_eq!(names.0.read().unwrap().len(), 2);
    }
}
