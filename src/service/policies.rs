//! The screening policies the service enforces: which one is in force for each data owner
//! (the sequencer knows), parsed once and kept by hash.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tonic::Status;

use crate::format::entry;
use crate::format::hash::Hash;
use crate::format::tree::LeafIndex;
use crate::guard::{GuardError, Policy};
use crate::identity::{self, IdentityError, Registry};
use crate::pb;
use crate::service::{RequestError, State};
use crate::store::{LogStore, StoreError};

/// Parsed policies by hash, and the owners' register keys the customer register needs.
pub(crate) struct Policies {
    register_keys: HashMap<String, Vec<u8>>,
    parsed: Mutex<HashMap<Hash, Arc<Policy>>>,
}

impl Policies {
    /// Loads the register key of every sender that has one in `keys_dir`.
    pub fn load(keys_dir: &Path, registry: &Registry) -> Result<Policies, IdentityError> {
        let mut register_keys = HashMap::new();
        for party in registry.parties() {
            if party.role == pb::Role::Sender
                && let Some(key) = identity::load_register_key(keys_dir, &party.name)?
            {
                register_keys.insert(party.name.clone(), key);
            }
        }
        Ok(Policies {
            register_keys,
            parsed: Mutex::new(HashMap::new()),
        })
    }

    /// Parses `bytes` as `owner`'s policy, with the owner's register key when the policy has a
    /// customer register (the server screens with it; the log holds only digests).
    pub fn parse(&self, owner: &str, bytes: &[u8]) -> Result<Policy, GuardError> {
        let policy = Policy::parse(bytes)?;
        if !policy.register_needs_key() {
            return Ok(policy);
        }
        match self.register_keys.get(owner) {
            Some(key) => Policy::parse_keyed(bytes, key),
            None => Err(GuardError::RegisterKeyRequired(
                policy.register_key_id().to_owned(),
            )),
        }
    }

    /// The policy in force for `owner` when it is parsed already (the common case, no I/O);
    /// None when [`Policies::in_force`] has to read it from the store, or refuse.
    pub fn cached(&self, state: &State, owner: &str) -> Option<Arc<Policy>> {
        let current = state.sequencer.policy_in_force(owner)?;
        self.lock().get(&current.hash).cloned()
    }

    /// The policy in force for `owner`: what a disclosure is screened under right now. Reads
    /// the PolicyChange entry from the store the first time a policy is asked for.
    pub fn in_force(&self, state: &State, owner: &str) -> Result<Arc<Policy>, Status> {
        let mut current = state.sequencer.policy_in_force(owner);
        if current.is_none() {
            // A reader's view of a shared log (PostgreSQL) can be behind the writer's: catch up
            // before saying that no policy is published (a no-op for the writer).
            state.sequencer.follow()?;
            current = state.sequencer.policy_in_force(owner);
        }
        let Some(current) = current else {
            return Err(RequestError::Precondition(format!(
                "no screening policy is published for {owner}, so nothing of theirs may cross: publish one with `borderlog policy publish` (`borderlog serve` publishes keys/{owner}.policy.toml on first start)"
            ))
            .into());
        };
        if let Some(p) = self.lock().get(&current.hash) {
            return Ok(p.clone());
        }
        let change = policy_change(&*state.store, current.index)?;
        let policy = self.parse(owner, &change.policy).map_err(|e| {
            RequestError::Precondition(format!(
                "the policy in force for {owner} (entry {}) cannot be applied here: {e}",
                current.index.0
            ))
        })?;
        let policy = Arc::new(policy);
        self.lock().insert(current.hash, policy.clone());
        Ok(policy)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Hash, Arc<Policy>>> {
        self.parsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The PolicyChange stored at `index` (which the sequencer said is one).
fn policy_change(store: &dyn LogStore, index: LeafIndex) -> Result<pb::PolicyChange, StoreError> {
    let inconsistent =
        |why: &str| StoreError::IndexInconsistent(format!("entry {}: {why}", index.0));
    let bytes = store
        .entry(index)?
        .ok_or_else(|| inconsistent("policy change entry is missing"))?;
    match entry::decode(&bytes).map(|e| e.kind) {
        Ok(Some(pb::entry::Kind::PolicyChange(change))) => Ok(change),
        _ => Err(inconsistent("not a policy change")),
    }
}
