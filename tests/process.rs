//! Real `borderlog` processes where only a process can tell: the exit status of a server whose
//! log failed, a command whose output pipe was closed, and a server under a flood of idle
//! connections with a low descriptor limit.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use borderlog::client;
use borderlog::pb;
use common::*;
use tokio::process::{Child, Command};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const BIN: &str = env!("CARGO_BIN_EXE_borderlog");

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// `borderlog serve` on `keys`, `data` and `addr`, with `extra` arguments, under a shell that
/// first runs `limits` (e.g. `ulimit -n 128`); stderr is kept for the test to read.
fn serve(keys: &Path, data: &Path, addr: &str, limits: &str, extra: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("{limits}\nexec \"$0\" \"$@\""))
        .arg(BIN)
        .args(["serve", "--keys"])
        .arg(keys)
        .arg("--data")
        .arg(data)
        .args(["--addr", addr, "--metrics-addr", "off"])
        .args(["--taxii-listen", "off"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The server's health as a whole.
async fn health(channel: tonic::transport::Channel) -> ServingStatus {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status()
}

/// Waits for the child to exit (at most a minute); its exit code and stderr.
async fn exited(child: Child) -> (Option<i32>, String) {
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the process exits by itself")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequencer_panic_turns_health_not_serving_and_the_server_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let data = dir.path().join("data");
    let addr = free_addr();
    let child = serve(&keys, &data, &addr, "", &[])
        .env("BORDERLOG_INJECT_FAULT", "panic-while-signing")
        .spawn()
        .unwrap();
    wait_up(&addr, &keys).await;
    let channel = client::channel(&addr, &keys, AUDITOR).await.unwrap();
    assert_eq!(health(channel.clone()).await, ServingStatus::Serving);

    // The sequencer panics signing this batch: the client hears "outcome unknown", not a
    // success nor "nothing was appended".
    let mut api = client::connect(&addr, &keys, SENDER).await.unwrap();
    let request = submission(&keys, 1);
    let status = api.submit(request.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    // From then on health says so and writes are refused at once, until the server exits
    // (after its grace of 5 s) with a failure status for its supervisor.
    let deadline = Instant::now() + Duration::from_secs(4);
    while health(channel.clone()).await != ServingStatus::NotServing {
        assert!(Instant::now() < deadline, "health still says SERVING");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = api.submit(submission(&keys, 2)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("panicked"), "{status:?}");
    drop(api);
    let (code, stderr) = exited(child).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the log failed and the server stopped") && stderr.contains("panicked"),
        "{stderr}"
    );

    // Restarted (as a supervisor would), the log is whole, and the sender learns that the
    // batch the panic interrupted was not appended.
    let child = serve(&keys, &data, &addr, "", &[]).spawn().unwrap();
    wait_up(&addr, &keys).await;
    let mut api = client::connect(&addr, &keys, SENDER).await.unwrap();
    let status = api
        .find_disclosure(pb::FindDisclosureRequest {
            body: request.body.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    api.submit(request).await.unwrap();
    drop(api);
    drop(child);
}

/// Runs a client command with its stdout a pipe whose reader is already gone.
async fn into_closed_pipe(args: &[&str], keys: &Path, addr: &str) -> (Option<i32>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--keys")
        .arg(keys)
        .args(["--addr", addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    exited(child).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), Backend::Embedded).await;
    let mut api = server.client(SENDER).await;
    for n in 0..3 {
        api.submit(submission(&server.keys, n)).await.unwrap();
    }
    let file = dir.path().join("ledger.export");
    let (code, stderr) = {
        let out = Command::new(BIN)
            .args(["export", "--out"])
            .arg(&file)
            .arg("--keys")
            .arg(&server.keys)
            .args(["--addr", &server.addr])
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(0), "{stderr}");

    let file = file.to_str().unwrap();
    for args in [
        vec!["tail", "--no-follow"],
        vec!["verify", file],
        vec!["checkpoint"],
        vec!["get", "1"],
    ] {
        let (code, stderr) = into_closed_pipe(&args, &server.keys, &server.addr).await;
        assert_eq!(code, Some(141), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?} says nothing: {stderr}"
        );
    }
    drop(api);
    server.stop().await;
}

/// CPU time (user + system) the process has used, in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at "state"; utime and
    // stime are fields 14 and 15 of the whole line.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_past_the_descriptor_limit_leaves_partners_served() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let data = dir.path().join("data");
    let addr = free_addr();
    // 128 descriptors, and a connection cap above that: the flood runs the process out of
    // descriptors, the case the accept loop used to spin on.
    let child = serve(
        &keys,
        &data,
        &addr,
        "ulimit -n 128",
        &["--max-connections", "1000", "--tls-handshake-timeout", "2s"],
    )
    .spawn()
    .unwrap();
    let pid = child.id().unwrap();
    wait_up(&addr, &keys).await;
    let mut api = client::connect(&addr, &keys, SENDER).await.unwrap();
    let health_channel = client::channel(&addr, &keys, AUDITOR).await.unwrap();
    // Grow the log to 8 entries first: the next Merkle level file (one more descriptor) is
    // opened only at 16, which this test does not reach while the process has none to spare.
    for n in 0..6 {
        api.submit(submission(&keys, n)).await.unwrap();
    }
    assert_eq!(
        api.get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
            .await
            .unwrap()
            .into_inner()
            .tree_size,
        8
    );

    // 300 TCP connections that never start TLS.
    let target: std::net::SocketAddr = addr.parse().unwrap();
    let flood: Vec<std::net::TcpStream> = tokio::task::spawn_blocking(move || {
        (0..300)
            .filter_map(|_| {
                std::net::TcpStream::connect_timeout(&target, Duration::from_secs(1)).ok()
            })
            .collect()
    })
    .await
    .unwrap();
    assert!(flood.len() > 128, "the flood outnumbers the descriptors");

    // Out of descriptors, the server waits instead of spinning...
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = cpu_ticks(pid) - before;
    assert!(
        used < 100,
        "{used} ticks of CPU in 3 s: the accept loop spins"
    );
    // ...and its partners are served all along: health, and a Submit, on their connections.
    assert_eq!(health(health_channel.clone()).await, ServingStatus::Serving);
    for n in 6..9 {
        api.submit(submission(&keys, n)).await.unwrap();
    }
    // The idle connections are closed after the handshake timeout, so a new partner gets in
    // while the flood is still connected.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut newcomer = loop {
        match tokio::time::timeout(
            Duration::from_secs(5),
            client::connect(&addr, &keys, SENDER),
        )
        .await
        {
            Ok(Ok(api)) => break api,
            _ => assert!(Instant::now() < deadline, "no new connection got in"),
        }
    };
    newcomer.submit(submission(&keys, 10)).await.unwrap();
    // The server closed the idle ones it took (each reads EOF or a reset).
    let closed = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        flood
            .into_iter()
            .take(50)
            .filter(|mut s| {
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                !matches!(s.read(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut)
            })
            .count()
    })
    .await
    .unwrap();
    assert_eq!(
        closed, 50,
        "the server closed idle connections that never started TLS"
    );
    drop((api, newcomer, health_channel));
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut config = borderlog::service::NodeConfig::new(&keys, dir.path().join("data"));
    config.limits.max_connections = 2;
    let server = TestServer::start_config(config, Backend::Embedded).await;
    let mut first = server.client(SENDER).await;
    let second = client::channel(&server.addr, &server.keys, AUDITOR)
        .await
        .unwrap();
    assert_eq!(health(second.clone()).await, ServingStatus::Serving);
    // A third connection is not taken while two are open...
    let third = tokio::time::timeout(
        Duration::from_secs(2),
        client::connect(&server.addr, &server.keys, RECIPIENT),
    )
    .await;
    assert!(
        third.is_err(),
        "a third connection was accepted past the cap"
    );
    first.submit(submission(&keys, 1)).await.unwrap();
    // ...and is as soon as one closes.
    drop(second);
    let mut third = tokio::time::timeout(
        Duration::from_secs(30),
        client::connect(&server.addr, &server.keys, RECIPIENT),
    )
    .await
    .expect("taken once a slot is free")
    .unwrap();
    third
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0 })
        .await
        .unwrap();
    drop((first, third));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let keys = init_keys(dir.path());
    let mut config = borderlog::service::NodeConfig::new(&keys, dir.path().join("data"));
    // The handshake timeout far off, so only the idle timeout can close the connection.
    config.limits.tls_handshake_timeout = Duration::from_secs(600);
    config.limits.idle_timeout = Duration::from_secs(1);
    let server = TestServer::start_config(config, Backend::Embedded).await;
    let addr = server.addr.clone();
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut idle = std::net::TcpStream::connect(&addr).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        idle.read(&mut [0u8; 1])
    })
    .await
    .unwrap();
    assert!(
        matches!(closed, Ok(0))
            || closed.is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the server closed the idle connection"
    );
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "closed by the idle timeout, not the test's read timeout"
    );
    server.stop().await;
}
