//! `borderlog bench`: a load generator in the manner of pgbench or redis-benchmark.
//!
//! N concurrent clients, each on its own mutual-TLS connection unless `--connections` says
//! fewer, submit disclosures of one ~1 KiB STIX indicator each, against an in-process server
//! on a scratch ledger (default; `--data` keeps it) or a running one (`--addr`). Reports
//! throughput, latency percentiles, batches and syncs. `--inclusion` instead fills the log to
//! `--fill` entries (or takes a running server's log as it is) and measures GetInclusionProof;
//! `--guard` measures the boundary guard's screening throughput on one core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use tokio::sync::Mutex;

use crate::client::{self, DisclosureHeader};
use crate::clock::now_ms;
use crate::identity::keys::load_signing_key;
use crate::identity::{self, InitOptions};
use crate::pb::{self, Role, get_inclusion_proof_request::Leaf};
use crate::sequencer::Append;
use crate::service::{Node, NodeConfig};

/// Arguments of `borderlog bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Concurrent clients, each with one call in flight.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Stop after this many requests in all (default: run for --seconds).
    #[arg(long)]
    pub count: Option<u64>,
    /// How long to run, when no --count is given.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Benchmark a running server instead of an in-process one (uses --keys).
    #[arg(long)]
    pub addr: Option<String>,
    /// Keys for --addr.
    #[arg(long, default_value = "keys")]
    pub keys: PathBuf,
    /// Keep the in-process server's ledger (keys/ and data/) in this directory instead of a
    /// scratch one, and reuse it on the next run: fill once, measure many times.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Put the in-process server's log in this PostgreSQL database (`postgres://...`, as
    /// `serve --store`) instead of data/ on disk.
    #[arg(long)]
    pub store: Option<String>,
    /// Connections the clients share (HTTP/2 carries many calls on one, as a gRPC channel
    /// shared by a partner's workers would); default: one per client.
    #[arg(long)]
    pub connections: Option<usize>,
    /// Measure GetInclusionProof instead of Submit.
    #[arg(long)]
    pub inclusion: bool,
    /// Entries the log should hold before an --inclusion run; the shortfall is appended
    /// directly, not over gRPC. Ignored with --addr, which measures the log as it is.
    #[arg(long, default_value_t = 1_000_000)]
    pub fill: u64,
    /// Pace the clients to this many requests per second in all (a soak run), instead of as
    /// fast as they go.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Print throughput, resident memory and open file descriptors every this many seconds
    /// (for soak runs: is throughput steady, memory flat, no descriptor growth?).
    #[arg(long)]
    pub report_every: Option<u64>,
    /// Measure the boundary guard alone: MB/s of STIX JSON screened on one core (the OASIS
    /// APT1 and Poison Ivy reports' objects) under a policy with a synthetic customer register.
    #[arg(long)]
    pub guard: bool,
    /// Entries in the synthetic customer register for --guard.
    #[arg(long, default_value_t = 10_000)]
    pub register: usize,
    /// Times the sample items are screened for --guard.
    #[arg(long, default_value_t = 200)]
    pub rounds: usize,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `borderlog bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.guard {
        return guard(&args);
    }
    let scratch = tempfile::tempdir().context("cannot make a scratch directory")?;
    let (addr, keys, node) = match &args.addr {
        Some(addr) => (addr.clone(), args.keys.clone(), None),
        None => {
            let dir = args.data.as_deref().unwrap_or(scratch.path());
            let keys = dir.join("keys");
            if !keys.join("partners.toml").exists() {
                identity::init(&keys, &InitOptions::default())?;
            }
            let mut config = NodeConfig::new(&keys, dir.join("data"));
            config.store_url = args.store.clone();
            let node = Node::open(config).await?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?.to_string();
            tokio::spawn(node.clone().run(listener, std::future::pending()));
            (addr, keys, Some(node))
        }
    };
    let registry = identity::Registry::load(&keys)?;
    let role_name = |role| {
        registry
            .parties()
            .iter()
            .find(|p| p.role == role)
            .map(|p| p.name.clone())
            .context("partners.toml lacks a sender or a recipient")
    };
    let (sender, recipient) = (role_name(Role::Sender)?, role_name(Role::Recipient)?);

    if let (true, Some(node)) = (args.inclusion, &node) {
        let shortfall = args.fill.saturating_sub(node.store().size().0);
        fill(
            node,
            &load_signing_key(&keys, &sender)?,
            &sender,
            &recipient,
            shortfall,
        )
        .await?;
    }

    let started_batches = node.as_ref().map(|n| {
        n.sequencer()
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
    });
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(
        args.count.unwrap_or(u64::MAX),
    ));
    let deadline = Instant::now()
        + Duration::from_secs(if args.count.is_some() {
            86_400
        } else {
            args.seconds
        });
    let key = Arc::new(load_signing_key(&keys, &sender)?);
    let connections = args
        .connections
        .unwrap_or(args.clients)
        .clamp(1, args.clients.max(1));
    let mut apis = Vec::with_capacity(connections);
    for _ in 0..connections {
        apis.push(client::connect(&addr, &keys, &sender).await?);
    }
    let size = match &node {
        Some(n) => n.store().size().0,
        // The latest tree size, from the proof of entry 0 to the latest checkpoint.
        None if args.inclusion => {
            apis[0]
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    leaf: Some(Leaf::Index(0)),
                    tree_size: 0,
                })
                .await?
                .into_inner()
                .tree_size
        }
        None => 1,
    };
    let started = Instant::now();
    let completed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reporter = args.report_every.map(|every| {
        tokio::spawn(report_progress(
            completed.clone(),
            every.max(1),
            node.clone(),
        ))
    });
    // Each client's share of --rate, as the pause between its requests.
    let pace = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(args.clients as f64 / r));
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let mut api = apis[c % connections].clone();
        let (latencies, budget, key) = (latencies.clone(), budget.clone(), key.clone());
        let completed = completed.clone();
        // Clients start their ticks spread over one period and keep to that grid (a late tick
        // is skipped, not shifted): started together, or drifting together after a stall,
        // they would send in bursts and measure their own queueing.
        let mut ticks = pace.map(|p| {
            let phase = p.mul_f64(c as f64 / args.clients as f64);
            let mut t = tokio::time::interval_at(tokio::time::Instant::now() + phase, p);
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        let header = DisclosureHeader {
            sender: sender.clone(),
            recipient: recipient.clone(),
            purpose: "benchmark".into(),
            legal_basis: "benchmark".into(),
            case_reference: String::new(),
        };
        let inclusion = args.inclusion;
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            let mut i = c as u64;
            while Instant::now() < deadline
                && budget
                    .fetch_update(
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                        |b| b.checked_sub(1),
                    )
                    .is_ok()
            {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                let t = Instant::now();
                if inclusion {
                    i = (i
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407))
                        % size;
                    api.get_inclusion_proof(pb::GetInclusionProofRequest {
                        leaf: Some(Leaf::Index(i)),
                        tree_size: size,
                    })
                    .await?;
                } else {
                    let request =
                        client::prepare_submission(&key, &header, vec![indicator()], now_ms())?;
                    api.submit(request).await?;
                }
                local.record(t.elapsed().as_micros() as u64).ok();
                completed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            latencies.lock().await.add(&local).ok();
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let h = latencies.lock().await;
    let batches = node.as_ref().zip(started_batches).map(|(n, s)| {
        n.sequencer()
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            - s
    });
    let what = if args.inclusion {
        "GetInclusionProof"
    } else {
        "durable disclosures"
    };
    let rate = h.len() as f64 / elapsed;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "operation": what, "clients": args.clients, "requests": h.len(), "seconds": elapsed,
                "per_second": rate, "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99),
                "max_us": h.max(), "batches": batches, "log_size": size,
            })
        );
    } else {
        println!(
            "{what}: {} requests by {} clients in {elapsed:.2} s",
            h.len(),
            args.clients
        );
        println!("  throughput  {rate:>10.0} /s");
        println!(
            "  latency     p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
        if let (Some(b), Some(node)) = (batches.filter(|_| !args.inclusion), &node) {
            let stats = node.sequencer().stats();
            let total = stats
                .batches
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1);
            println!(
                "  batches     {b} (one fdatasync and one signed checkpoint each), {:.1} entries per batch, {:.2} ms per batch write+sync+index",
                h.len() as f64 / b.max(1) as f64,
                stats
                    .append_nanos
                    .load(std::sync::atomic::Ordering::Relaxed) as f64
                    / total as f64
                    / 1e6
            );
        }
        if args.inclusion {
            println!("  log size    {size} entries");
        }
    }
    Ok(())
}

/// Appends `n` signed disclosures straight to the sequencer, in large batches, for proof
/// benchmarks that need a big log without waiting on gRPC.
async fn fill(
    node: &Node,
    key: &ed25519_dalek::SigningKey,
    sender: &str,
    recipient: &str,
    n: u64,
) -> anyhow::Result<()> {
    let header = DisclosureHeader {
        sender: sender.into(),
        recipient: recipient.into(),
        purpose: "benchmark fill".into(),
        legal_basis: "benchmark".into(),
        case_reference: String::new(),
    };
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    for i in 0..n {
        let request = client::prepare_submission(key, &header, vec![indicator()], now_ms())?;
        let payloads = Vec::new(); // payloads do not affect proof cost; keep the fill small
        let sequencer = node.sequencer().clone();
        pending.spawn(async move {
            sequencer
                .append(Append {
                    kind: pb::entry::Kind::Disclosure(pb::Disclosure {
                        body: request.body,
                        signature: request.signature,
                        policy_hash: Vec::new(),
                    }),
                    payloads,
                    claims: Vec::new(),
                    screened_under: None,
                    signed_by: None,
                })
                .await
        });
        if pending.len() >= 8192 {
            while let Some(done) = pending.join_next().await {
                done??;
            }
        }
        if i % 100_000 == 0 && i > 0 {
            eprintln!(
                "  filled {i} entries ({:.0}/s)",
                i as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    while let Some(done) = pending.join_next().await {
        done??;
    }
    eprintln!(
        "  filled {n} entries in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A ~1 KiB STIX 2.1 indicator with a fresh id, marked TLP:GREEN.
fn indicator() -> Vec<u8> {
    let r: [u8; 16] = client::random_bytes();
    let h = hex::encode(r);
    let id = format!(
        "indicator--{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    serde_json::to_vec(&serde_json::json!({
        "type": "indicator",
        "spec_version": "2.1",
        "id": id,
        "created": "2026-11-01T10:00:00.000Z",
        "modified": "2026-11-01T10:00:00.000Z",
        "name": "Emotet loader C2 node",
        "description": "Command-and-control endpoint observed distributing the Emotet loader in a spam wave against European banks. Infrastructure rotates daily; block at the perimeter and hunt for beacons at a 300 second interval with jitter. Seen in campaigns since 2026-10-28 with malicious Office documents and password-protected ZIP archives.",
        "indicator_types": ["malicious-activity"],
        "pattern": format!("[url:value = 'http://c2-{}.badcdn.example/gate.php'] OR [file:hashes.'SHA-256' = '{}{}']", &h[..8], h, h),
        "pattern_type": "stix",
        "valid_from": "2026-11-01T10:00:00Z",
        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "command-and-control"}],
        "labels": ["emotet", "loader", "c2"],
        "object_marking_refs": ["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]
    }))
    .expect("a JSON value always serialises")
}

/// `--guard`: screening throughput on this thread, after a short warm-up.
fn guard(args: &BenchArgs) -> anyhow::Result<()> {
    use crate::guard::bench;
    let policy = bench::synthetic_register(args.register)?;
    let items = bench::sample_items();
    bench::measure(&policy, &items, 2);
    let t = bench::measure(&policy, &items, args.rounds.max(1));
    if args.json {
        let out = serde_json::json!({
            "mb_per_s_per_core": t.mb_per_s,
            "items_per_s": t.items as f64 / t.seconds,
            "items": t.items,
            "bytes": t.bytes,
            "seconds": t.seconds,
            "register_entries": args.register,
        });
        println!("{out}");
    } else {
        println!(
            "guard: {:.1} MB/s of STIX JSON on one core ({:.0} items/s; {} items of the APT1 and Poison Ivy reports x {} rounds, {} bytes, {:.2} s; customer register of {} entries)",
            t.mb_per_s,
            t.items as f64 / t.seconds,
            items.len(),
            args.rounds.max(1),
            t.bytes,
            t.seconds,
            args.register
        );
    }
    Ok(())
}

/// Every `every` seconds: requests completed in the interval, resident memory, open file
/// descriptors and the log's size — the numbers a soak run watches.
async fn report_progress(
    completed: Arc<std::sync::atomic::AtomicU64>,
    every: u64,
    node: Option<Node>,
) {
    let started = Instant::now();
    let mut last = 0;
    let mut ticks = tokio::time::interval(Duration::from_secs(every));
    ticks.tick().await;
    eprintln!(
        "  {:>6}  {:>10}  {:>8}  {:>6}  {:>10}",
        "t (s)", "req/s", "RSS MiB", "fds", "log size"
    );
    loop {
        ticks.tick().await;
        let done = completed.load(std::sync::atomic::Ordering::Relaxed);
        let rss_kib = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
            .unwrap_or(0);
        let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
        let size = node.as_ref().map_or(0, |n| n.store().size().0);
        eprintln!(
            "  {:>6.0}  {:>10.0}  {:>8.1}  {:>6}  {:>10}",
            started.elapsed().as_secs_f64(),
            (done - last) as f64 / every as f64,
            rss_kib as f64 / 1024.0,
            fds,
            size
        );
        last = done;
    }
}
