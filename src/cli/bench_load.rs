//! The client side of `borderlog bench`: clients on a tokio runtime of their own (threads named
//! [`CLIENT_THREADS`]), so the CPU they use can be told apart from the server's in one process.
//!
//! A unary client has one call in flight; a stream client keeps up to `window` disclosures in
//! flight on one SubmitStream. Latency is from handing a request to the channel to its answer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tokio::sync::{Mutex, Semaphore, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{self, Api, DescribedItem, DisclosureHeader};
use crate::clock::now_ms;
use crate::pb::{self, get_inclusion_proof_request::Leaf};

/// Name of every thread of the clients' runtime.
pub const CLIENT_THREADS: &str = "bench-client";

/// Linux reports task times in /proc in USER_HZ ticks, 100 per second on every architecture
/// the kernel ABI keeps stable.
const TICKS_PER_SECOND: f64 = 100.0;

/// What the clients do.
#[derive(Debug, Clone)]
pub enum Work {
    /// GetInclusionProof of random leaves below `size`.
    Inclusion {
        /// The log's size.
        size: u64,
    },
    /// Unary Submit of disclosures of `items` objects each.
    Submit {
        /// Objects per disclosure.
        items: usize,
    },
    /// SubmitStream, up to `window` disclosures in flight per stream.
    Stream {
        /// Objects per disclosure.
        items: usize,
        /// Disclosures in flight per stream.
        window: usize,
    },
}

/// How the clients run.
pub struct Load {
    /// The work.
    pub work: Work,
    /// Concurrent clients (streams, with [`Work::Stream`]).
    pub clients: usize,
    /// Channels they share.
    pub channels: Vec<Api>,
    /// Requests in all, at most.
    pub budget: Arc<AtomicU64>,
    /// When to stop.
    pub deadline: Instant,
    /// The pause between one client's requests, when paced.
    pub pace: Option<Duration>,
    /// The signing key and the disclosures' header.
    pub key: Arc<ed25519_dalek::SigningKey>,
    /// Sender, recipient, purpose.
    pub header: DisclosureHeader,
    /// Requests answered so far (for progress reports).
    pub completed: Arc<AtomicU64>,
}

/// What the clients measured.
pub struct Measured {
    /// Latency of every answered request, µs.
    pub latencies: Histogram<u64>,
    /// Disclosures (or proofs) answered with success.
    pub ok: u64,
    /// Wall time of the load.
    pub seconds: f64,
}

/// Runs `load` to its end.
pub async fn run(load: Load) -> anyhow::Result<Measured> {
    let latencies = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    // Distinct objects the disclosures carry, described once: the client's cost per disclosure
    // is then salting, hashing and signing, as for a feed of ready objects.
    let pool: Arc<Vec<DescribedItem>> = Arc::new(
        (0..256)
            .map(|i| DescribedItem::new(i, indicator()))
            .collect::<Result<_, _>>()?,
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..load.clients {
        let client = Client {
            api: load.channels[c % load.channels.len()].clone(),
            number: c,
            source: Source {
                budget: load.budget.clone(),
                deadline: load.deadline,
                ticks: load.pace.map(|p| {
                    // Clients start their ticks spread over one period and keep to that grid
                    // (a late tick is skipped, not shifted): started together, or drifting
                    // together after a stall, they would send in bursts and measure their
                    // own queueing.
                    let phase = p.mul_f64(c as f64 / load.clients as f64);
                    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + phase, p);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    t
                }),
                key: load.key.clone(),
                header: load.header.clone(),
                pool: pool.clone(),
            },
            completed: load.completed.clone(),
            latencies: Histogram::<u64>::new(3)?,
        };
        let (work, latencies) = (load.work.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let (local, ok) = client.run(work).await?;
            latencies.lock().await.add(&local).ok();
            anyhow::Ok(ok)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    let latencies = latencies.lock().await.clone();
    Ok(Measured {
        latencies,
        ok,
        seconds,
    })
}

/// One client's state.
struct Client {
    api: Api,
    number: usize,
    source: Source,
    completed: Arc<AtomicU64>,
    latencies: Histogram<u64>,
}

/// Where a client's requests come from: the shared budget and deadline, its pace, and what it
/// signs with.
struct Source {
    budget: Arc<AtomicU64>,
    deadline: Instant,
    ticks: Option<tokio::time::Interval>,
    key: Arc<ed25519_dalek::SigningKey>,
    header: DisclosureHeader,
    pool: Arc<Vec<DescribedItem>>,
}

impl Source {
    /// Takes one request from the budget, waiting for the client's tick when paced; false
    /// once the run is over.
    async fn next(&mut self) -> bool {
        let go = Instant::now() < self.deadline
            && self
                .budget
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
                .is_ok();
        if go && let Some(ticks) = self.ticks.as_mut() {
            ticks.tick().await;
        }
        go
    }

    /// A fresh signed disclosure of `items` objects from the pool.
    fn disclosure(&self, items: usize, n: u64) -> pb::SubmitRequest {
        let pool = &self.pool;
        let chosen = (0..items)
            .map(|i| pool[(n as usize * 31 + i) % pool.len()].clone())
            .collect();
        client::prepare_described(&self.key, &self.header, chosen, now_ms())
    }
}

impl Client {
    async fn run(self, work: Work) -> anyhow::Result<(Histogram<u64>, u64)> {
        match work {
            Work::Inclusion { size } => self.inclusion(size).await,
            Work::Submit { items } => self.submit(items).await,
            Work::Stream { items, window } => self.stream(items, window).await,
        }
    }

    fn record(&mut self, since: Instant) {
        self.latencies
            .record(since.elapsed().as_micros() as u64)
            .ok();
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    async fn inclusion(mut self, size: u64) -> anyhow::Result<(Histogram<u64>, u64)> {
        let mut i = self.number as u64;
        let mut ok = 0;
        while self.source.next().await {
            i = (i
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407))
                % size;
            let t = Instant::now();
            self.api
                .get_inclusion_proof(pb::GetInclusionProofRequest {
                    leaf: Some(Leaf::Index(i)),
                    tree_size: size,
                })
                .await?;
            self.record(t);
            ok += 1;
        }
        Ok((self.latencies, ok))
    }

    async fn submit(mut self, items: usize) -> anyhow::Result<(Histogram<u64>, u64)> {
        let mut ok = 0;
        while self.source.next().await {
            let request = self.source.disclosure(items, ok);
            let t = Instant::now();
            self.api.submit(request).await?;
            self.record(t);
            ok += 1;
        }
        Ok((self.latencies, ok))
    }

    /// One SubmitStream: a sender task keeps up to `window` disclosures unanswered; answers
    /// are matched to send times in order.
    async fn stream(self, items: usize, window: usize) -> anyhow::Result<(Histogram<u64>, u64)> {
        let Client {
            mut api,
            source: mut me,
            completed,
            mut latencies,
            ..
        } = self;
        let (requests, outgoing) = mpsc::channel(window.max(1));
        let in_flight = Arc::new(Semaphore::new(window.max(1)));
        let sent = Arc::new(std::sync::Mutex::new(VecDeque::<Instant>::new()));
        let mut answers = api
            .submit_stream(ReceiverStream::new(outgoing))
            .await?
            .into_inner();
        let sender = {
            let (in_flight, sent) = (in_flight.clone(), sent.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while me.next().await {
                    in_flight.acquire().await.context("window closed")?.forget();
                    let request = me.disclosure(items, n);
                    n += 1;
                    sent.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_back(Instant::now());
                    if requests.send(request).await.is_err() {
                        bail!("the stream closed while sending");
                    }
                }
                anyhow::Ok(())
            })
        };
        let mut ok = 0;
        while let Some(answer) = answers.next().await {
            let answer = answer?;
            let t = sent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop_front()
                .context("an answer to nothing sent")?;
            in_flight.add_permits(1);
            match answer.result {
                Some(pb::submit_stream_response::Result::Receipt(_)) => ok += 1,
                Some(pb::submit_stream_response::Result::Error(e)) => {
                    return Err(client::submit_error_status(&e).into());
                }
                None => bail!("an answer without a result"),
            }
            latencies.record(t.elapsed().as_micros() as u64).ok();
            completed.fetch_add(1, Ordering::Relaxed);
        }
        sender.await??;
        Ok((latencies, ok))
    }
}

/// CPU time (user and system) of the whole process so far, exited threads included.
pub fn process_cpu() -> Duration {
    task_cpu("/proc/self/stat").unwrap_or_default()
}

/// CPU time of the calling thread so far: what a one-core measurement costs whatever else
/// the machine runs.
pub fn thread_cpu() -> Duration {
    task_cpu("/proc/thread-self/stat").unwrap_or_default()
}

/// CPU time of `pid` so far (another process, e.g. a `serve` under test).
pub fn pid_cpu(pid: u32) -> anyhow::Result<Duration> {
    task_cpu(&format!("/proc/{pid}/stat")).with_context(|| format!("cannot read /proc/{pid}/stat"))
}

/// CPU time so far of this process's live threads whose name starts with `prefix`.
pub fn threads_cpu(prefix: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|t| task_cpu(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// utime + stime of a /proc stat file (fields 14 and 15, counted after the parenthesised
/// command name, which may hold spaces).
fn task_cpu(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SECOND))
}

/// A ~1 KiB STIX 2.1 indicator with a fresh id, marked TLP:GREEN.
pub fn indicator() -> Vec<u8> {
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
