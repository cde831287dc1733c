//! Crash safety with real processes: a server killed with SIGKILL under load loses no entry
//! it acknowledged, keeps one verifiable chain, and cuts a torn final record on restart;
//! deleted or damaged indexes are rebuilt from the segments.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use borderlog::client::{self, verify_receipt};
use borderlog::pb;
use common::*;
use tokio_stream::StreamExt;

/// A `borderlog serve` child process.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    async fn start(keys: &Path, data: &Path, addr: &str) -> ServerProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_borderlog"))
            .args(["serve", "--keys"])
            .arg(keys)
            .arg("--data")
            .arg(data)
            .args(["--addr", addr, "--metrics-addr", "127.0.0.1:0"])
            .args(["--taxii-listen", "off"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start borderlog serve");
        wait_up(addr, keys).await;
        ServerProcess {
            child,
            addr: addr.to_owned(),
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged() {
    kill_loop(3, false).await;
}

/// The long run `scripts/kill-loop.sh` drives: `BORDERLOG_KILL_ROUNDS` rounds (default 50) of
/// SIGKILL under load, each restart checked in full, by this test and by `borderlog verify`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long; run by scripts/kill-loop.sh"]
async fn kill_loop_checked_after_every_restart() {
    let rounds = std::env::var("BORDERLOG_KILL_ROUNDS")
        .ok()
        .map(|r| r.parse().expect("BORDERLOG_KILL_ROUNDS is a number"))
        .unwrap_or(50);
    kill_loop(rounds, true).await;
}

/// `rounds` times: start a real `borderlog serve`, load it with 16 submitting clients and two
/// SubmitStreams, SIGKILL
/// it at a varying moment. Round 1 also leaves a torn record at the segment's end. With
/// `check_every_round`, each restart is checked before the next load; the final restart always
/// is: every acknowledged entry present, unchanged and provably included; the chain verifies.
async fn kill_loop(rounds: u64, check_every_round: bool) {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let data = dir.path().join("data");
    let log = log_verifier(&keys);
    let mut acknowledged: Vec<pb::LogReceipt> = Vec::new();

    for round in 0..rounds {
        let server = ServerProcess::start(&keys, &data, &free_addr()).await;
        if check_every_round && round > 0 {
            check_restart(&server, &keys, &log, &acknowledged).await;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut load = Vec::new();
        for c in 0..16u64 {
            let (addr, keys, tx) = (server.addr.clone(), keys.clone(), tx.clone());
            load.push(tokio::spawn(async move {
                let Ok(mut api) = client::connect(&addr, &keys, SENDER).await else {
                    return;
                };
                for n in 0.. {
                    let request = submission(&keys, round * 1_000_000 + c * 10_000 + n);
                    match api.submit(request).await {
                        Ok(r) => {
                            let _ = tx.send(r.into_inner());
                        }
                        Err(_) => return, // the server died mid-call: not acknowledged
                    }
                }
            }));
        }
        // Two partner feeds on SubmitStreams, sending as fast as flow control lets them: every
        // receipt a stream delivered counts as acknowledged too.
        for c in 0..2u64 {
            let (addr, keys, tx) = (server.addr.clone(), keys.clone(), tx.clone());
            load.push(tokio::spawn(async move {
                let Ok(mut api) = client::connect(&addr, &keys, SENDER).await else {
                    return;
                };
                let base = round * 1_000_000 + 500_000 + c * 100_000;
                let requests = tokio_stream::iter(0..).map(move |n| submission(&keys, base + n));
                let Ok(answers) = api.submit_stream(requests).await else {
                    return;
                };
                let mut answers = answers.into_inner();
                while let Some(Ok(answer)) = answers.next().await {
                    match answer.result {
                        Some(pb::submit_stream_response::Result::Receipt(r)) => {
                            let _ = tx.send(r);
                        }
                        other => panic!("a streamed disclosure failed: {other:?}"),
                    }
                }
            }));
        }
        drop(tx);
        // Kill at a different moment of the batch cycle each round.
        let load_ms = 300 + (round * 137) % 700;
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.kill();
        for task in load {
            if let Err(e) = task.await {
                assert!(!e.is_panic(), "round {round}: a load task failed: {e}");
            }
        }
        let before = acknowledged.len();
        while let Some(r) = rx.recv().await {
            acknowledged.push(r);
        }
        assert!(
            acknowledged.len() > before,
            "round {round}: the load got receipts"
        );
        if check_every_round {
            eprintln!(
                "round {round}: killed after {load_ms} ms; {} acknowledged so far",
                acknowledged.len()
            );
        }

        // A torn final record: half a record's worth of garbage at the segment's end.
        if round == 1 {
            let segment = last_segment(&data.join("segments"));
            let mut bytes = std::fs::read(&segment).unwrap();
            bytes.extend_from_slice(&[0x42, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3]);
            std::fs::write(&segment, bytes).unwrap();
        }
    }

    let server = ServerProcess::start(&keys, &data, &free_addr()).await;
    check_restart(&server, &keys, &log, &acknowledged).await;
    server.kill();
}

/// After a restart: every acknowledged entry is there, unchanged, and provably included in
/// the latest checkpoint, and the chain verifies, here and by `borderlog verify --addr` (every
/// signature, receipt and policy replay).
async fn check_restart(
    server: &ServerProcess,
    keys: &Path,
    log: &borderlog::format::note::Verifier,
    acknowledged: &[pb::LogReceipt],
) {
    let mut auditor = client::connect(&server.addr, keys, AUDITOR).await.unwrap();
    let (checkpoint, leaves) = verify_chain(&mut auditor, log).await;
    for receipt in acknowledged {
        verify_receipt(receipt, log).unwrap();
        assert_eq!(
            leaves[receipt.index as usize].to_vec(),
            receipt.leaf_hash,
            "acknowledged entry {} survived",
            receipt.index
        );
    }
    assert!(checkpoint.size as usize > acknowledged.len());
    let verified = Command::new(env!("CARGO_BIN_EXE_borderlog"))
        .args(["verify", "--addr", &server.addr, "--keys"])
        .arg(keys)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .expect("run borderlog verify");
    assert!(
        verified.success(),
        "borderlog verify --addr failed on a log of {} entries",
        checkpoint.size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_indexes_are_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut sender = server.client(SENDER).await;
    for n in 0..20 {
        sender.submit(submission(&server.keys, n)).await.unwrap();
    }
    let mut auditor = server.client(AUDITOR).await;
    let (before, _) = verify_chain(&mut auditor, &server.log).await;
    let (keys, data) = (server.keys.clone(), server.data.clone());
    server.stop().await;

    // Deleted.
    std::fs::remove_dir_all(data.join("index")).unwrap();
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let (after, _) = verify_chain(&mut server.client(AUDITOR).await, &server.log).await;
    assert_eq!((after.size, after.root), (before.size, before.root));
    let payload = server
        .client(SENDER)
        .await
        .get_entry(pb::GetEntryRequest { index: 3 })
        .await
        .unwrap()
        .into_inner();
    assert!(
        payload.items[0].payload.is_some(),
        "payload index rebuilt too"
    );
    server.stop().await;

    // Overwritten with garbage.
    for file in walk(&data.join("index")) {
        std::fs::write(&file, vec![0xa5; 4096]).unwrap();
    }
    let server = TestServer::start_with(&keys, &data, Backend::Embedded).await;
    let (after, _) = verify_chain(&mut server.client(AUDITOR).await, &server.log).await;
    assert_eq!((after.size, after.root), (before.size, before.root));
    server.stop().await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segments.sort();
    segments.pop().expect("a segment file")
}
