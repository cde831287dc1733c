//! TAXII 2.1 Get Objects throughput (issue 16): pages through every object a recipient may
//! read, 1,000 objects a page, over real HTTPS with the recipient's client certificate, and
//! reports objects/s and the latency of a page.
//!
//! The ledger is kept in DIR (keys/ and data/, made by `init` on first use): the first run fills
//! it to `--fill` disclosures of one STIX indicator each, every one with its own STIX id, over
//! unary Submit (screened and appended as any partner's); later runs measure it as it is:
//!
//! ```sh
//! cargo run --release --example taxii_bench -- /tmp/taxii-100k [--fill 100000] [--clients N] [--limit 1000]
//! ```
//!
//! Each client is a TAXII client as a partner's platform runs one: it walks the collection from
//! the start, following `next`, one page at a time. With several clients they walk it at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use borderlog::audit::synthetic::{RECIPIENT, SENDER, indicator};
use borderlog::client::{self, DisclosureHeader};
use borderlog::clock::now_ms;
use borderlog::identity::keys::load_signing_key;
use borderlog::identity::{self, InitOptions};
use borderlog::service::{Node, NodeConfig};
use borderlog::taxii::{API_ROOT, TAXII_MEDIA_TYPE};
use hdrhistogram::Histogram;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(
        args.get(1)
            .ok_or("usage: taxii_bench DIR [--fill N] [--clients N] [--limit N]")?,
    );
    let flag = |name: &str, default: usize| -> Result<usize, Error> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args.get(i + 1).ok_or("flag without a value")?.parse()?),
            None => Ok(default),
        }
    };
    let (clients, limit) = (flag("--clients", 1)?, flag("--limit", 1000)?);
    let fill_to = flag("--fill", 100_000)? as u64;
    let keys = dir.join("keys");
    if !keys.join("partners.toml").exists() {
        identity::init(&keys, &InitOptions::default())?;
    }

    let node = Node::open(NodeConfig::new(&keys, dir.join("data"))).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let grpc = listener.local_addr()?.to_string();
    tokio::spawn(node.clone().run(listener, std::future::pending()));
    // Genesis and the sender's policy come first; every later entry is a disclosure.
    let shortfall = (fill_to + 2).saturating_sub(node.store().size().0);
    if shortfall > 0 {
        fill(&grpc, &keys, node.store().size().0, shortfall).await?;
    }
    let entries = node.store().size().0;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (serving, keys_c) = (node.clone(), keys.clone());
    tokio::spawn(async move {
        borderlog::taxii::serve(&serving, &keys_c, listener, std::future::pending()).await
    });

    let ca = reqwest::Certificate::from_pem(&std::fs::read(keys.join("ca.crt"))?)?;
    let mut pem = std::fs::read(keys.join(format!("{RECIPIENT}.crt")))?;
    pem.extend(std::fs::read(keys.join(format!("{RECIPIENT}.key")))?);
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&pem)?)
        .resolve("localhost", addr)
        .build()?;
    let base = format!("https://localhost:{}/{API_ROOT}", addr.port());
    let collections: serde_json::Value = get(&client, &format!("{base}/collections/")).await?.1;
    let collection = collections["collections"][0]["id"]
        .as_str()
        .ok_or("the recipient sees no collection")?
        .to_owned();
    let objects = Arc::new(format!("{base}/collections/{collection}/objects/"));

    // One untimed walk warms the page cache and the connection.
    let (warm, _, bytes) = walk(&client, &objects, limit).await?;
    println!(
        "log: {entries} entries; the recipient's collection holds {warm} objects ({:.1} MB of envelopes)",
        bytes as f64 / 1e6
    );

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (client, objects) = (client.clone(), objects.clone());
        tasks.spawn(async move { walk(&client, &objects, limit).await });
    }
    let mut pages = Histogram::<u64>::new(3)?;
    let mut total = 0u64;
    while let Some(done) = tasks.join_next().await {
        let (n, h, _) = done??;
        total += n;
        pages.add(h)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "Get Objects: {total} objects in {} pages of up to {limit} by {clients} client(s) in {seconds:.2} s",
        pages.len()
    );
    println!("  throughput  {:>10.0} objects/s", total as f64 / seconds);
    println!(
        "  per page    p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        ms(pages.value_at_quantile(0.5)),
        ms(pages.value_at_quantile(0.99)),
        ms(pages.max())
    );
    Ok(())
}

/// Submits `n` disclosures of one indicator each, numbered from `first` so every STIX id is
/// new, 32 at a time, each on a connection of its own, as the sender.
async fn fill(grpc: &str, keys: &std::path::Path, first: u64, n: u64) -> Result<(), Error> {
    let key = Arc::new(load_signing_key(keys, SENDER)?);
    let header = Arc::new(DisclosureHeader {
        sender: SENDER.into(),
        recipient: RECIPIENT.into(),
        purpose: "TAXII benchmark".into(),
        legal_basis: "benchmark".into(),
        case_reference: String::new(),
    });
    let next = Arc::new(std::sync::atomic::AtomicU64::new(first));
    let end = first + n;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let mut api = client::connect(grpc, keys, SENDER).await?;
        let (key, header, next) = (key.clone(), header.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= end {
                    return Ok::<_, Error>(());
                }
                let request =
                    client::prepare_submission(&key, &header, vec![indicator(i)], now_ms())?;
                api.submit(request).await?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    eprintln!(
        "filled {n} disclosures in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Walks the collection from the start to the last page: the objects seen, each page's time
/// and the bytes received.
async fn walk(
    client: &reqwest::Client,
    objects: &str,
    limit: usize,
) -> Result<(u64, Histogram<u64>, u64), Error> {
    let mut pages = Histogram::<u64>::new(3)?;
    let mut seen = 0u64;
    let mut bytes = 0u64;
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(cursor) => format!("{objects}?limit={limit}&next={cursor}"),
            None => format!("{objects}?limit={limit}"),
        };
        let t = Instant::now();
        let (size, envelope) = get(client, &url).await?;
        pages.record(t.elapsed().as_micros() as u64)?;
        bytes += size;
        seen += envelope["objects"].as_array().map_or(0, |o| o.len() as u64);
        match envelope["next"].as_str() {
            Some(cursor) if envelope["more"] == true => next = Some(cursor.to_owned()),
            _ => return Ok((seen, pages, bytes)),
        }
    }
}

/// GET accepting TAXII 2.1; the status must be 200. The body's size and the body.
async fn get(client: &reqwest::Client, url: &str) -> Result<(u64, serde_json::Value), Error> {
    let reply = client
        .get(url)
        .header("accept", TAXII_MEDIA_TYPE)
        .send()
        .await?;
    let status = reply.status();
    let bytes = reply.bytes().await?;
    if !status.is_success() {
        return Err(format!("{url}: {status}: {}", String::from_utf8_lossy(&bytes)).into());
    }
    Ok((bytes.len() as u64, serde_json::from_slice(&bytes)?))
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}
