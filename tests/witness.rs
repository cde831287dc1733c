//! Each partner as a witness of the log: `borderlog witness` rounds against a live server,
//! cosignatures stored durably and served with the checkpoint, forged cosignatures refused,
//! rollbacks and split views refused loudly, and C2SP tlog-witness over HTTP both ways. Real
//! processes, real mTLS and HTTP on loopback, real files. Each test runs on both backends
//! (`name::embedded`, `name::postgres`: `both_backends!` in tests/common/mod.rs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use borderlog::format::checkpoint::Checkpoint;
use borderlog::format::note::{self, KeyType, Note, Signer, Verifier};
use borderlog::format::{TreeSize, cosignature};
use borderlog::identity;
use borderlog::pb;
use borderlog::witness::http::{Answer, WitnessClient};
use borderlog::witness::protocol::AddCheckpoint;
use common::{AUDITOR, Backend, RECIPIENT, SENDER, TestServer, both_backends, submission};
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncBufReadExt, BufReader};
use tonic::Code;

/// The cosignature/v1 verifier of a partner, as the log and auditors derive it from genesis.
fn partner_cosigner(keys: &Path, name: &str) -> Verifier {
    let key = identity::keys::load_signing_key(keys, name).unwrap();
    Verifier::new(name, KeyType::Cosignature, key.verifying_key()).unwrap()
}

/// Appends `n` disclosures numbered from `from`.
async fn disclose(server: &TestServer, from: u64, n: u64) {
    let mut api = server.client(SENDER).await;
    for i in from..from + n {
        api.submit(submission(&server.keys, i)).await.unwrap();
    }
}

/// Runs `borderlog witness --once` as `who` against `server`; returns (success, stdout, stderr).
async fn witness_once(
    server_addr: &str,
    keys: &Path,
    who: &str,
    state: &Path,
) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["witness", "--once", "--as", who, "--addr", server_addr])
        .arg("--keys")
        .arg(keys)
        .arg("--state")
        .arg(state)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn checkpoint(server: &TestServer, size: u64) -> pb::CheckpointResponse {
    server
        .client(AUDITOR)
        .await
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: size })
        .await
        .unwrap()
        .into_inner()
}

both_backends!(partners_witness_the_live_log_and_cosignatures_survive_restarts);
async fn partners_witness_the_live_log_and_cosignatures_survive_restarts(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    let state_r = dir.path().join("police.witness-state");
    let state_s = dir.path().join("vendor.witness-state");
    let police = partner_cosigner(&keys, RECIPIENT);
    let vendor = partner_cosigner(&keys, SENDER);

    let mut sizes = Vec::new();
    for round in 0..3u64 {
        disclose(&server, round * 10, 3).await;
        let (ok, out, err) = witness_once(&server.addr, &keys, RECIPIENT, &state_r).await;
        assert!(ok, "round {round}: {out}{err}");
        assert!(out.contains("cosigned checkpoint of size"), "{out}");
        if round > 0 {
            assert!(
                out.contains(&format!(
                    "consistent with size {}",
                    sizes[round as usize - 1]
                )),
                "{out}"
            );
        }
        let (ok, out, err) = witness_once(&server.addr, &keys, SENDER, &state_s).await;
        assert!(ok, "round {round}: {out}{err}");

        // The latest checkpoint carries the log's signature and both partners' cosignatures,
        // as one signed note that C2SP verifiers accept.
        let cp = checkpoint(&server, 0).await;
        let note = Note::parse(&cp.checkpoint).unwrap();
        assert_eq!(note.signatures.len(), 3, "{}", cp.checkpoint);
        let verifiers = [server.log.clone(), police.clone(), vendor.clone()];
        assert_eq!(note::verify(&note, &verifiers).unwrap().len(), 3);
        let (opened, _) = Checkpoint::open(&cp.checkpoint, &server.log).unwrap();
        for sig in &note.signatures[1..] {
            let v = if sig.name == RECIPIENT {
                &police
            } else {
                &vendor
            };
            let t = cosignature::verify(sig, v, &note.text).unwrap();
            assert!(t.abs_diff(common::now_ms() as u64 / 1000) < 60);
        }
        let mut names: Vec<_> = cp.cosigners.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, [RECIPIENT, SENDER]);
        assert!(cp.cosigners.iter().all(|c| c.partner));
        sizes.push(opened.size);
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");

    // An auditor's export carries the cosignatures, and the offline verifier checks them.
    let export = dir.path().join("ledger.export");
    let run = |args: Vec<String>| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .args(args)
            .output()
            .await
            .unwrap()
    };
    let common_args = |cmd: &str| -> Vec<String> {
        vec![
            cmd.into(),
            "--as".into(),
            AUDITOR.into(),
            "--addr".into(),
            server.addr.clone(),
            "--keys".into(),
            keys.display().to_string(),
        ]
    };
    let mut args = common_args("export");
    args.extend(["--out".into(), export.display().to_string()]);
    let out = run(args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut args = common_args("verify");
    args.extend([export.display().to_string(), "--json".into()]);
    let out = run(args).await;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cosigned"][RECIPIENT], 3, "{report}");
    assert_eq!(report["cosigned"][SENDER], 3, "{report}");

    let out = run(common_args("checkpoint")).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    for p in [RECIPIENT, SENDER] {
        assert!(
            text.contains(&format!("verified: cosigned by partner {p} at ")),
            "{text}"
        );
    }

    // Nothing new: the round says so and stores nothing twice.
    let (ok, out, _) = witness_once(&server.addr, &keys, RECIPIENT, &state_r).await;
    assert!(ok && out.contains("already cosigned"), "{out}");
    assert_eq!(checkpoint(&server, 0).await.cosigners.len(), 2);

    // A restart with the cosignatures written after the latest checkpoint (nothing appended
    // since): they are committed records and survive, at every size that was cosigned.
    let before: Vec<_> = futures_sizes(&server, &sizes).await;
    server.stop().await;
    let server = TestServer::start_with(&keys, &data, backend).await;
    assert_eq!(futures_sizes(&server, &sizes).await, before);
    server.stop().await;
    // And when the embedded store's index is gone, it is rebuilt with them.
    if backend == Backend::Embedded {
        std::fs::remove_dir_all(data.join("index")).unwrap();
    }
    let server = TestServer::start_with(&keys, &data, backend).await;
    assert_eq!(futures_sizes(&server, &sizes).await, before);
    let cp = checkpoint(&server, 0).await;
    assert_eq!(cp.tree_size, *sizes.last().unwrap());
    assert_eq!(Note::parse(&cp.checkpoint).unwrap().signatures.len(), 3);
    // The log grows on after them.
    disclose(&server, 100, 1).await;
    let (ok, out, err) = witness_once(&server.addr, &keys, RECIPIENT, &state_r).await;
    assert!(ok, "{out}{err}");
    server.stop().await;
}

/// The checkpoint note served at each size.
async fn futures_sizes(server: &TestServer, sizes: &[u64]) -> Vec<String> {
    let mut out = Vec::new();
    for s in sizes {
        out.push(checkpoint(server, *s).await.checkpoint);
    }
    out
}

both_backends!(forged_and_misdirected_cosignatures_are_refused);
async fn forged_and_misdirected_cosignatures_are_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    disclose(&server, 0, 2).await;
    let cp = checkpoint(&server, 0).await;
    let (opened, note) = Checkpoint::open(&cp.checkpoint, &server.log).unwrap();
    let key = identity::keys::load_signing_key(&server.keys, RECIPIENT).unwrap();
    let now = common::now_ms() as u64 / 1000;
    let good = cosignature::cosign(RECIPIENT, &key, now, &note.text).unwrap();
    let request = |line: String| pb::AddCosignatureRequest {
        tree_size: opened.size,
        root_hash: opened.root.to_vec(),
        cosignature: line,
    };
    let channel = |who: &'static str| {
        let (addr, keys) = (server.addr.clone(), server.keys.clone());
        async move {
            borderlog::client::connect_witness(&addr, &keys, who)
                .await
                .unwrap()
        }
    };
    let mut recipient = channel(RECIPIENT).await;

    let refused = [
        // Someone else's key under the recipient's name.
        (
            request(
                cosignature::cosign(
                    RECIPIENT,
                    &SigningKey::from_bytes(&[9; 32]),
                    now,
                    &note.text,
                )
                .unwrap()
                .line(),
            ),
            Code::InvalidArgument,
        ),
        // A valid signature over another checkpoint body.
        (
            request(
                cosignature::cosign(
                    RECIPIENT,
                    &key,
                    now,
                    &note.text.replace(&format!("\n{}\n", opened.size), "\n1\n"),
                )
                .unwrap()
                .line(),
            ),
            Code::InvalidArgument,
        ),
        // The sender's name on the recipient's connection.
        (
            request(
                cosignature::cosign(SENDER, &key, now, &note.text)
                    .unwrap()
                    .line(),
            ),
            Code::PermissionDenied,
        ),
        // Not a signature line.
        (request("cosigned, trust me".into()), Code::InvalidArgument),
        // A timestamp far in the future.
        (
            request(
                cosignature::cosign(RECIPIENT, &key, now + 86_400, &note.text)
                    .unwrap()
                    .line(),
            ),
            Code::InvalidArgument,
        ),
        // A size at which no checkpoint was signed.
        (
            pb::AddCosignatureRequest {
                tree_size: 1_000_000,
                ..request(good.line())
            },
            Code::NotFound,
        ),
        // Another view's root.
        (
            pb::AddCosignatureRequest {
                root_hash: vec![7; 32],
                ..request(good.line())
            },
            Code::InvalidArgument,
        ),
    ];
    for (i, (req, code)) in refused.into_iter().enumerate() {
        let status = recipient.add_cosignature(req).await.unwrap_err();
        assert_eq!(status.code(), code, "case {i}: {}", status.message());
    }
    // An auditor witnesses nothing.
    let status = channel(AUDITOR)
        .await
        .add_cosignature(request(good.line()))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "{}",
        status.message()
    );
    assert!(checkpoint(&server, 0).await.cosigners.is_empty());

    // The real one is stored, once, however often it is sent.
    for _ in 0..2 {
        let reply = recipient
            .add_cosignature(request(good.line()))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(reply.cosigners.len(), 1);
        assert!(reply.checkpoint.ends_with(&good.line()));
    }
    // A second cosignature by the same key (new timestamp) keeps the first.
    let later = cosignature::cosign(RECIPIENT, &key, now + 1, &note.text).unwrap();
    let reply = recipient
        .add_cosignature(request(later.line()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.cosigners.len(), 1);
    assert_eq!(reply.cosigners[0].timestamp, now);
    let line = good.line();
    let stored = match &server.url {
        None => std::fs::read(server.data.join("segments/00000000.seg"))
            .unwrap()
            .windows(line.len())
            .filter(|w| *w == line.as_bytes())
            .count(),
        Some(url) => common::pg::query(
            url,
            &format!("SELECT count(*) FROM cosignatures WHERE line = '{line}'"),
        )
        .parse()
        .unwrap(),
    };
    assert_eq!(
        stored, 1,
        "one cosignature stored (a segment record, or a row)"
    );
    server.stop().await;
}

both_backends!(witness_refuses_split_view_and_rollback_loudly_and_keeps_its_state);
async fn witness_refuses_split_view_and_rollback_loudly_and_keeps_its_state(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    disclose(&server, 0, 2).await;
    let fork_size = checkpoint(&server, 0).await.tree_size;
    server.stop().await;
    // Two copies of the log as it is at the fork: same keys, same origin.
    let (data_b, data_c) = (dir.path().join("data-b"), dir.path().join("data-c"));
    backend.copy_log(&data, &data_b);
    backend.copy_log(&data, &data_c);

    let a = TestServer::start_with(&keys, &data, backend).await;
    disclose(&a, 10, 1).await;
    let state = dir.path().join("police.witness-state");
    let (ok, out, err) = witness_once(&a.addr, &keys, RECIPIENT, &state).await;
    assert!(ok, "{out}{err}");
    let held = checkpoint(&a, 0).await;
    let held_root = hex::encode(&held.root_hash);
    let state_bytes = std::fs::read(&state).unwrap();

    // B: the same log forked at fork_size, growing differently (two other disclosures).
    let b = TestServer::start_with(&keys, &data_b, backend).await;
    disclose(&b, 20, 1).await;
    // Same size as what the witness holds, another root.
    let same = checkpoint(&b, 0).await;
    assert_eq!(same.tree_size, held.tree_size);
    let (ok, out, err) = witness_once(&b.addr, &keys, RECIPIENT, &state).await;
    assert!(!ok, "cosigned a split view: {out}");
    assert!(err.contains("SPLIT VIEW REFUSED"), "{err}");
    assert!(
        err.contains(&held_root) && err.contains(&hex::encode(&same.root_hash)),
        "{err}"
    );
    assert_eq!(std::fs::read(&state).unwrap(), state_bytes, "state kept");
    // Larger, and the proof from the held checkpoint cannot hold.
    disclose(&b, 21, 1).await;
    let bigger = checkpoint(&b, 0).await;
    let (ok, _, err) = witness_once(&b.addr, &keys, RECIPIENT, &state).await;
    assert!(!ok);
    assert!(err.contains("SPLIT VIEW REFUSED"), "{err}");
    assert!(
        err.contains(&held_root) && err.contains(&hex::encode(&bigger.root_hash)),
        "{err}"
    );
    assert!(err.contains(&format!("size {}", bigger.tree_size)), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), state_bytes);
    assert!(checkpoint(&b, 0).await.cosigners.is_empty());
    b.stop().await;

    // C: the log as it was at the fork — a rollback from what the witness cosigned.
    let c = TestServer::start_with(&keys, &data_c, backend).await;
    assert_eq!(checkpoint(&c, 0).await.tree_size, fork_size);
    let (ok, _, err) = witness_once(&c.addr, &keys, RECIPIENT, &state).await;
    assert!(!ok);
    assert!(err.contains("ROLLBACK REFUSED"), "{err}");
    assert!(
        err.contains(&held_root) && err.contains(&format!("size {fork_size}")),
        "{err}"
    );
    assert_eq!(std::fs::read(&state).unwrap(), state_bytes);
    c.stop().await;

    // The honest log still gets cosigned.
    disclose(&a, 11, 1).await;
    let (ok, out, err) = witness_once(&a.addr, &keys, RECIPIENT, &state).await;
    assert!(ok, "{out}{err}");
    a.stop().await;
}

/// A `borderlog witness --serve 127.0.0.1:0` process and what it printed about itself.
struct HttpWitness {
    child: tokio::process::Child,
    url: String,
    verifier: Verifier,
}

async fn serve_witness(keys: &Path, state: &Path, name: &str, logs: &[&Verifier]) -> HttpWitness {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_borderlog"));
    cmd.args([
        "witness",
        "--serve",
        "127.0.0.1:0",
        "--as",
        RECIPIENT,
        "--name",
        name,
    ])
    .arg("--keys")
    .arg(keys)
    .arg("--state")
    .arg(state)
    .stdout(Stdio::piped())
    .kill_on_drop(true);
    for l in logs {
        cmd.arg("--log").arg(l.to_string());
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the witness prints its address")
        .unwrap()
        .expect("a first line");
    // "witness <verifier key> serving C2SP tlog-witness on http://<addr>/add-checkpoint"
    let words: Vec<&str> = first.split(' ').collect();
    let verifier = Verifier::parse(words[1]).unwrap();
    let url = words
        .last()
        .unwrap()
        .strip_suffix("/add-checkpoint")
        .unwrap()
        .to_owned();
    HttpWitness {
        child,
        url,
        verifier,
    }
}

both_backends!(tlog_witness_endpoint_cosigns_consistent_checkpoints_only);
async fn tlog_witness_endpoint_cosigns_consistent_checkpoints_only(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), backend).await;
    let other = TestServer::start(&dir.path().join("other"), backend).await;
    let mut w = serve_witness(
        &server.keys,
        &dir.path().join("http.witness-state"),
        "witness.example/w1",
        &[&server.log, &other.log],
    )
    .await;
    assert_eq!(w.verifier.name, "witness.example/w1");
    let client = WitnessClient::new();
    let post = |old: u64, proof: Vec<[u8; 32]>, note: String| {
        let (client, url) = (client.clone(), w.url.clone());
        async move {
            client
                .add_checkpoint(
                    &url,
                    &AddCheckpoint {
                        old_size: old,
                        proof,
                        checkpoint: note,
                    },
                )
                .await
                .unwrap()
        }
    };

    disclose(&server, 0, 1).await;
    let first = checkpoint(&server, 0).await;
    let n = first.tree_size;
    let body = Note::parse(&first.checkpoint).unwrap().text;
    let Answer::Cosigned(sigs) = post(0, vec![], first.checkpoint.clone()).await else {
        panic!("first checkpoint not cosigned")
    };
    assert_eq!(sigs.len(), 1);
    cosignature::verify(&sigs[0], &w.verifier, &body).unwrap();

    disclose(&server, 1, 2).await;
    let second = checkpoint(&server, 0).await;
    let m = second.tree_size;
    // A stale old size: 409 with the witness's size.
    assert_eq!(
        post(0, vec![], second.checkpoint.clone()).await,
        Answer::Conflict(n)
    );
    // A proof that does not hold: 422, nothing recorded.
    let store_proof = server
        .node
        .store()
        .consistency_proof(TreeSize(n), TreeSize(m))
        .unwrap();
    let mut bad = store_proof.clone();
    bad[0][0] ^= 1;
    assert!(matches!(
        post(n, bad, second.checkpoint.clone()).await,
        Answer::Refused { status: 422, .. }
    ));
    // Old size beyond the checkpoint: 400.
    assert!(matches!(
        post(m + 1, vec![], second.checkpoint.clone()).await,
        Answer::Refused { status: 400, .. }
    ));
    // The right proof: cosigned.
    let Answer::Cosigned(sigs) = post(n, store_proof, second.checkpoint.clone()).await else {
        panic!("consistent checkpoint not cosigned")
    };
    let body = Note::parse(&second.checkpoint).unwrap().text;
    cosignature::verify(&sigs[0], &w.verifier, &body).unwrap();
    // The earlier checkpoint again: a rollback, refused.
    assert!(matches!(
        post(m, vec![], first.checkpoint.clone()).await,
        Answer::Refused { status: 400, .. }
    ));

    // A checkpoint with the log's origin signed by another key: 403. An origin the witness
    // does not know: 404. Another known log keeps its own state (old 0 works for it).
    let forger = Signer::new(&server.log.name, SigningKey::from_bytes(&[5; 32])).unwrap();
    let forged = Checkpoint::parse_body(&body)
        .unwrap()
        .sign(&forger)
        .unwrap();
    assert!(matches!(
        post(m, vec![], forged).await,
        Answer::Refused { status: 403, .. }
    ));
    let stranger = Signer::new("stranger.example/log", SigningKey::from_bytes(&[6; 32])).unwrap();
    let unknown =
        Checkpoint::parse_body(&body.replacen(&server.log.name, "stranger.example/log", 1))
            .unwrap()
            .sign(&stranger)
            .unwrap();
    assert!(matches!(
        post(0, vec![], unknown).await,
        Answer::Refused { status: 404, .. }
    ));
    let other_cp = checkpoint(&other, 0).await;
    assert!(matches!(
        post(0, vec![], other_cp.checkpoint).await,
        Answer::Cosigned(_)
    ));

    // Same size, another root (a split view): 409 carrying the size.
    let mut split = Checkpoint::parse_body(&body).unwrap();
    split.root = [1; 32];
    let log_key = identity::keys::load_log_key(&server.keys).unwrap();
    let split = split
        .sign(&Signer::new(&server.log.name, log_key).unwrap())
        .unwrap();
    assert_eq!(post(m, vec![], split).await, Answer::Conflict(m));

    w.child.kill().await.unwrap();
    other.stop().await;
    server.stop().await;
}

both_backends!(the_log_submits_checkpoints_to_configured_witnesses_and_stores_their_cosignatures);
async fn the_log_submits_checkpoints_to_configured_witnesses_and_stores_their_cosignatures(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let keys: PathBuf = common::init_keys(dir.path());
    let log = common::log_verifier(&keys);
    let w = serve_witness(
        &keys,
        &dir.path().join("http.witness-state"),
        "witness.example/w2",
        &[&log],
    )
    .await;
    std::fs::write(
        keys.join("witnesses.toml"),
        format!(
            "push_interval_ms = 50\n\n[[witness]]\nurl = \"{}\"\nkey = \"{}\"\n",
            w.url, w.verifier
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&keys, &dir.path().join("data"), backend).await;
    for round in 0..3u64 {
        disclose(&server, round, 1).await;
        let size = server.node.store().size().0;
        // Wait for the witness's cosignature of this size to be stored.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let cp = loop {
            let cp = checkpoint(&server, size).await;
            if !cp.cosigners.is_empty() {
                break cp;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no cosignature at size {size}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(cp.cosigners[0].name, "witness.example/w2");
        assert!(!cp.cosigners[0].partner);
        let note = Note::parse(&cp.checkpoint).unwrap();
        let verifiers = [server.log.clone(), w.verifier.clone()];
        assert_eq!(note::verify(&note, &verifiers).unwrap().len(), 2);
    }
    server.stop().await;
}
