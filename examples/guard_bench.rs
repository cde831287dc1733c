//! Guard screening throughput with a synthetic customer register (what `borderlog bench --guard`
//! reports). Run: `cargo run --release --example guard_bench [register entries] [rounds]`.

use borderlog::guard::bench;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let policy = bench::synthetic_register(entries)?;
    let items = bench::sample_items();
    let warm = bench::measure(&policy, &items, 2);
    let t = bench::measure(&policy, &items, rounds);
    println!(
        "guard: {} items/round, {} register entries, {} rounds: {:.1} MB/s on one core ({} items, {} bytes, {:.3} s; warm-up {:.1} MB/s)",
        items.len(),
        entries,
        rounds,
        t.mb_per_s,
        t.items,
        t.bytes,
        t.seconds,
        warm.mb_per_s
    );
    Ok(())
}
