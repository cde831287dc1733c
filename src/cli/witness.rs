//! `borderlog witness`: a partner as a witness of the log. Each round it fetches the latest
//! checkpoint and a consistency proof from the last checkpoint it cosigned, checks the log's
//! signature and the proof, cosigns (C2SP cosignature/v1, its partner key, key name = its
//! name) and hands the cosignature to the log (Witness.AddCosignature). It refuses — loudly,
//! with a non-zero exit — to cosign a rollback or a split view, and keeps its state.
//!
//! With `--serve [ADDR]` it instead serves C2SP tlog-witness (`POST /add-checkpoint`) for the
//! logs it is given (`--log KEY`, default: the log in keys/), from the same kind of state.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;

use super::{ClientArgs, status_error};
use crate::client;
use crate::format::checkpoint::Checkpoint;
use crate::format::hash::hash_from_slice;
use crate::format::note::{KeyType, Verifier};
use crate::identity;
use crate::pb::{self, Role};
use crate::witness::{Witness, WitnessError, now_secs};

/// Where `--serve` listens when given no address: loopback only.
const DEFAULT_SERVE_ADDR: &str = "127.0.0.1:7460";

/// Arguments of `borderlog witness`.
#[derive(Debug, Args)]
pub struct WitnessArgs {
    /// State file: the last checkpoint cosigned, per log origin (default keys/<name>.witness-state).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// One round, then exit (default: a round every --interval).
    #[arg(long)]
    pub once: bool,
    /// Time between rounds, e.g. "10s", "1m".
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Serve C2SP tlog-witness `POST /add-checkpoint` on this address instead (default
    /// 127.0.0.1:7460 when given without a value).
    #[arg(long, num_args = 0..=1, default_missing_value = DEFAULT_SERVE_ADDR)]
    pub serve: Option<String>,
    /// With --serve: a log to witness, as its note verifier key "origin+id+base64" (repeat for
    /// more; default: the log in keys/).
    #[arg(long = "log")]
    pub logs: Vec<String>,
    /// With --serve: the witness key's name (default: the partner's name).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Runs `borderlog witness`.
pub async fn run(args: WitnessArgs) -> anyhow::Result<()> {
    let (registry, name, log) = args.client.context(Role::Sender)?;
    match registry.party(&name) {
        Some(p) if identity::is_partner(p.role) => {}
        _ => {
            bail!("{name} is not a partner of this log; only partners witness it (pass --as NAME)")
        }
    }
    let key = identity::keys::load_signing_key(&args.client.keys, &name)?;
    let state = args
        .state
        .clone()
        .unwrap_or_else(|| args.client.keys.join(format!("{name}.witness-state")));
    if let Some(addr) = &args.serve {
        let logs = if args.logs.is_empty() {
            vec![log]
        } else {
            args.logs
                .iter()
                .map(|k| {
                    let v = Verifier::parse(k).with_context(|| format!("--log {k}"))?;
                    if v.kind != KeyType::Ed25519 {
                        bail!("--log {k}: not an Ed25519 note key of a log");
                    }
                    Ok(v)
                })
                .collect::<anyhow::Result<_>>()?
        };
        let witness_name = args.name.as_deref().unwrap_or(&name);
        let witness = Arc::new(Witness::open(witness_name, key, logs, &state)?);
        return serve(addr, witness).await;
    }
    let witness = Witness::open(&name, key, vec![log.clone()], &state)?;
    let (addr, keys) = (&args.client.addr, &args.client.keys);
    let mut api = Api {
        ledger: client::connect(addr, keys, &name).await?,
        witness: client::connect_witness(addr, keys, &name).await?,
    };
    loop {
        match round(&mut api, &witness, &log).await {
            Ok(said) => {
                if args.client.json {
                    println!("{}", said.json());
                } else {
                    println!("{}", said.text());
                }
            }
            // The log misbehaved, or the witness cannot keep its record: stop, loudly.
            Err(RoundError::Witness(e)) => {
                let what = if e.is_misbehaviour() {
                    "the log showed this witness an inconsistent checkpoint; nothing was cosigned, the state is unchanged"
                } else {
                    "nothing was cosigned"
                };
                tracing::error!("{e}");
                bail!("{e}\n{what} ({})", state.display());
            }
            Err(RoundError::Transient(e)) if !args.once => {
                tracing::warn!(
                    "witness round failed, retrying in {:?}: {e:#}",
                    args.interval
                );
            }
            Err(RoundError::Transient(e)) => return Err(e),
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// The two services a witness round calls.
struct Api {
    ledger: client::Api,
    witness: client::WitnessApi,
}

/// What one round did.
enum Said {
    /// Cosigned a new checkpoint.
    Cosigned { size: u64, root: String, from: u64 },
    /// The latest checkpoint is the one already cosigned (the cosignature was handed in again
    /// if the log did not show it).
    Unchanged { size: u64, resent: bool },
}

impl Said {
    fn text(&self) -> String {
        match self {
            Said::Cosigned {
                size,
                root,
                from: 0,
            } => format!(
                "cosigned checkpoint of size {size} (root {root}), the first this witness cosigns for the log (taken on trust); the log stored the cosignature"
            ),
            Said::Cosigned { size, root, from } => format!(
                "cosigned checkpoint of size {size} (root {root}), consistent with size {from}; the log stored the cosignature"
            ),
            Said::Unchanged { size, resent } => format!(
                "checkpoint of size {size} already cosigned{}",
                if *resent {
                    "; handed the cosignature in again"
                } else {
                    ""
                }
            ),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Said::Cosigned { size, root, from } => {
                serde_json::json!({"cosigned": true, "tree_size": size, "root_hash": root, "consistent_with": from})
            }
            Said::Unchanged { size, resent } => {
                serde_json::json!({"cosigned": false, "tree_size": size, "resent": resent})
            }
        }
    }
}

/// Why a round failed: the witness refused (stop), or talking to the log failed (retry).
enum RoundError {
    Witness(WitnessError),
    Transient(anyhow::Error),
}

impl From<tonic::Status> for RoundError {
    fn from(s: tonic::Status) -> Self {
        RoundError::Transient(status_error(s))
    }
}

async fn round(api: &mut Api, witness: &Witness, log: &Verifier) -> Result<Said, RoundError> {
    let latest = api
        .ledger
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await?
        .into_inner();
    let (offered, _) = Checkpoint::open(&latest.checkpoint, log).map_err(|why| {
        RoundError::Witness(WitnessError::Unverified {
            origin: log.name.clone(),
            why,
        })
    })?;
    let held = witness.held(&offered.origin);
    if let Some(h) = held
        .as_ref()
        .filter(|h| h.size == offered.size && h.root == offered.root)
    {
        let me = witness.verifier();
        let shown = latest
            .cosigners
            .iter()
            .any(|c| c.name == me.name && c.key_id == hex::encode(me.key_id));
        if !shown {
            add_cosignature(api, offered.size, &offered.root, &h.cosignature).await?;
        }
        return Ok(Said::Unchanged {
            size: offered.size,
            resent: !shown,
        });
    }
    let from = held.as_ref().map_or(0, |h| h.size);
    let proof = if from > 0 && from < offered.size {
        let p = api
            .ledger
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                old_size: from,
                new_size: offered.size,
            })
            .await?
            .into_inner();
        p.hashes
            .iter()
            .map(|h| hash_from_slice(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RoundError::Witness(WitnessError::BadProof(e.to_string())))?
    } else {
        Vec::new()
    };
    let sig = witness
        .add_checkpoint(from, &proof, &latest.checkpoint, now_secs())
        .map_err(RoundError::Witness)?;
    add_cosignature(api, offered.size, &offered.root, &sig.line()).await?;
    Ok(Said::Cosigned {
        size: offered.size,
        root: hex::encode(offered.root),
        from,
    })
}

async fn add_cosignature(
    api: &mut Api,
    size: u64,
    root: &[u8; 32],
    line: &str,
) -> Result<(), RoundError> {
    api.witness
        .add_cosignature(pb::AddCosignatureRequest {
            tree_size: size,
            root_hash: root.to_vec(),
            cosignature: line.to_owned(),
        })
        .await?;
    Ok(())
}

async fn serve(addr: &str, witness: Arc<Witness>) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // The first line says where and as whom, so a log operator (or a test) can configure it.
    println!(
        "witness {} serving C2SP tlog-witness on http://{local}/add-checkpoint",
        witness.verifier()
    );
    crate::witness::http::serve(listener, witness, super::serve::shutdown_signal())
        .await
        .context("serving tlog-witness")?;
    Ok(())
}
