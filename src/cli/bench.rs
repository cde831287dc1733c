//! `borderlog bench`: a load generator in the manner of pgbench or redis-benchmark.
//!
//! N concurrent clients sharing 8 mutual-TLS channels (as the worker pools of two partner
//! services would; `--connections` to vary it) submit disclosures of `--items` ~1 KiB STIX
//! indicators each — one unary Submit at a time per client, or, with `--stream`, on one
//! SubmitStream per client with up to `--window` disclosures in flight — against an in-process
//! server on a scratch ledger (default; `--data` keeps it) or a running one (`--addr`).
//! Reports disclosures/s, items/s, latency percentiles, batches, and the CPU time per
//! disclosure of the server and of the clients (the clients run on threads of their own; with
//! `--addr`, `--server-pid` names the server process to read). `--inclusion` instead fills the
//! log to `--fill` entries (or takes a running server's log as it is) and measures
//! GetInclusionProof; `--guard` measures the boundary guard's screening throughput on one core.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::bench_load::{
    self, CLIENT_THREADS, Load, Work, indicator, pid_cpu, process_cpu, threads_cpu,
};
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
    /// shared by a partner's workers would); at most one per client.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Each client opens one SubmitStream and keeps up to --window disclosures in flight on
    /// it, instead of one unary Submit at a time.
    #[arg(long)]
    pub stream: bool,
    /// Disclosures in flight per stream, with --stream.
    #[arg(long, default_value_t = 32)]
    pub window: usize,
    /// STIX objects per disclosure.
    #[arg(long, default_value_t = 1)]
    pub items: usize,
    /// With --addr: the server's process id, to report its CPU time per disclosure too.
    #[arg(long)]
    pub server_pid: Option<u32>,
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
    // The in-process server stops when this is dropped or sent, and is awaited before the
    // scratch directory goes, so its store closes (flushing its index) while its files exist.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, keys, node, serving) = match &args.addr {
        Some(addr) => (addr.clone(), args.keys.clone(), None, None),
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
            let serving = tokio::spawn(node.clone().run(listener, async move {
                let _ = stopped.await;
            }));
            (addr, keys, Some(node), Some(serving))
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
    let budget = Arc::new(std::sync::atomic::AtomicU64::new(
        args.count.unwrap_or(u64::MAX),
    ));
    let key = Arc::new(load_signing_key(&keys, &sender)?);
    let connections = args.connections.clamp(1, args.clients.max(1));
    let header = DisclosureHeader {
        sender: sender.clone(),
        recipient: recipient.clone(),
        purpose: "benchmark".into(),
        legal_basis: "benchmark".into(),
        case_reference: String::new(),
    };
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
    let (inclusion, stream, items, window) =
        (args.inclusion, args.stream, args.items.max(1), args.window);
    let (clients, count, seconds, server_pid) =
        (args.clients, args.count, args.seconds, args.server_pid);
    let in_process = node.is_some();
    let (addr_c, keys_c, sender_c) = (addr.clone(), keys.clone(), sender.clone());
    let size_known = node.as_ref().map(|n| n.store().size().0);
    // The clients run on a runtime of their own, on threads named for it, so their CPU time
    // is told apart from the in-process server's.
    let load = std::thread::Builder::new()
        .name(CLIENT_THREADS.into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .thread_name(CLIENT_THREADS)
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut channels = Vec::with_capacity(connections);
                for _ in 0..connections {
                    channels.push(client::connect(&addr_c, &keys_c, &sender_c).await?);
                }
                let work = if inclusion {
                    let size = match size_known {
                        Some(size) => size,
                        // The latest tree size, from the proof of entry 0 to the latest checkpoint.
                        None => {
                            channels[0]
                                .get_inclusion_proof(pb::GetInclusionProofRequest {
                                    leaf: Some(Leaf::Index(0)),
                                    tree_size: 0,
                                })
                                .await?
                                .into_inner()
                                .tree_size
                        }
                    };
                    Work::Inclusion { size }
                } else if stream {
                    Work::Stream { items, window }
                } else {
                    Work::Submit { items }
                };
                let deadline = Instant::now()
                    + Duration::from_secs(if count.is_some() { 86_400 } else { seconds });
                let cpu_before = (
                    process_cpu(),
                    threads_cpu(CLIENT_THREADS),
                    server_pid.map(pid_cpu).transpose()?,
                );
                let measured = bench_load::run(Load {
                    work: work.clone(),
                    clients,
                    channels,
                    budget,
                    deadline,
                    pace,
                    key,
                    header,
                    completed,
                })
                .await?;
                let client_cpu = threads_cpu(CLIENT_THREADS) - cpu_before.1;
                let server_cpu = match (cpu_before.2, server_pid) {
                    (Some(before), Some(pid)) => Some(pid_cpu(pid)? - before),
                    _ if in_process => {
                        Some((process_cpu() - cpu_before.0).saturating_sub(client_cpu))
                    }
                    _ => None,
                };
                anyhow::Ok((work, measured, client_cpu, server_cpu))
            })
        })
        .context("cannot start the clients' thread")?;
    let (work, measured, client_cpu, server_cpu) = tokio::task::spawn_blocking(move || load.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the clients' thread panicked"))??;
    if let Some(reporter) = reporter {
        reporter.abort();
    }
    let h = &measured.latencies;
    let elapsed = measured.seconds;
    let batches = node.as_ref().zip(started_batches).map(|(n, s)| {
        n.sequencer()
            .stats()
            .batches
            .load(std::sync::atomic::Ordering::Relaxed)
            - s
    });
    let (what, size) = match work {
        Work::Inclusion { size } => ("GetInclusionProof", size),
        Work::Submit { .. } => ("durable disclosures (unary Submit)", 0),
        Work::Stream { .. } => ("durable disclosures (SubmitStream)", 0),
    };
    let rate = measured.ok as f64 / elapsed;
    let items_rate = if inclusion { rate } else { rate * items as f64 };
    let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / measured.ok.max(1) as f64;
    let (client_us, server_us) = (per(client_cpu), server_cpu.map(per));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "operation": what, "clients": args.clients, "connections": connections,
                "stream": stream, "window": stream.then_some(window), "items": items,
                "requests": measured.ok, "seconds": elapsed,
                "per_second": rate, "items_per_second": items_rate,
                "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99),
                "max_us": h.max(), "batches": batches, "log_size": size,
                "client_cpu_us_per_request": client_us, "server_cpu_us_per_request": server_us,
            })
        );
    } else {
        println!(
            "{what}: {} by {} clients over {connections} connection(s){} in {elapsed:.2} s",
            measured.ok,
            args.clients,
            if stream {
                format!(", {window} in flight per stream")
            } else {
                String::new()
            },
        );
        println!("  throughput  {rate:>10.0} /s");
        if !inclusion {
            println!("  items       {items_rate:>10.0} /s ({items} per disclosure)");
        }
        println!(
            "  latency     p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
            h.value_at_quantile(0.5) as f64 / 1000.0,
            h.value_at_quantile(0.99) as f64 / 1000.0,
            h.max() as f64 / 1000.0
        );
        println!(
            "  CPU         server {}   client {client_us:.0} µs per {}",
            server_us.map_or_else(|| "n/a (--server-pid)".into(), |us| format!("{us:.0} µs")),
            if inclusion { "call" } else { "disclosure" }
        );
        if let (Some(b), Some(node)) = (batches.filter(|_| !inclusion), &node) {
            let stats = node.sequencer().stats();
            let total = stats
                .batches
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(1);
            println!(
                "  batches     {b} (one fdatasync and one signed checkpoint each), {:.1} entries per batch, {:.2} ms per batch write+sync+index",
                measured.ok as f64 / b.max(1) as f64,
                stats
                    .append_nanos
                    .load(std::sync::atomic::Ordering::Relaxed) as f64
                    / total as f64
                    / 1e6
            );
        }
        if inclusion {
            println!("  log size    {size} entries");
        }
    }
    drop(stop);
    if let Some(serving) = serving {
        serving.await??;
    }
    if let Some(node) = node {
        // The sequencer's thread and the node's background tasks let go of the store as they
        // stop; the last holder closes it, and that should be us, before the scratch goes.
        let store = node.store().clone();
        drop(node);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&store) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
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

/// `--guard`: screening throughput on this thread, after a short warm-up.
fn guard(args: &BenchArgs) -> anyhow::Result<()> {
    use crate::guard::bench;
    let policy = bench::synthetic_register(args.register)?;
    let items = bench::sample_items();
    bench::measure(&policy, &items, 2);
    let cpu = bench_load::thread_cpu();
    let t = bench::measure(&policy, &items, args.rounds.max(1));
    // Per CPU-second as well as per wall-second: on a machine that runs other work the
    // thread is descheduled part of the time, and only the first says what a core does.
    let cpu = (bench_load::thread_cpu() - cpu).as_secs_f64().max(1e-9);
    let mb_per_cpu_s = t.bytes as f64 / cpu / 1e6;
    if args.json {
        let out = serde_json::json!({
            "mb_per_s_per_core": t.mb_per_s,
            "mb_per_cpu_second": mb_per_cpu_s,
            "cpu_seconds": cpu,
            "items_per_s": t.items as f64 / t.seconds,
            "items": t.items,
            "bytes": t.bytes,
            "seconds": t.seconds,
            "register_entries": args.register,
        });
        println!("{out}");
    } else {
        println!(
            "guard: {:.1} MB/s of STIX JSON on one core, {mb_per_cpu_s:.1} MB per CPU-second ({:.0} items/s; {} items of the APT1 and Poison Ivy reports x {} rounds, {} bytes, {:.2} s; customer register of {} entries)",
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
