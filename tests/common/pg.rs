//! Throwaway PostgreSQL clusters for tests: `initdb` and `pg_ctl` from the system's PostgreSQL
//! binaries, in a temporary directory, on a loopback port. No running server is needed.
//!
//! PostgreSQL refuses to run as root; when the tests do (CI, containers), the cluster runs as
//! the `postgres` system user the Debian packages make (else `nobody`), through `runuser`.
//! Without PostgreSQL binaries, [`Cluster::start`] and [`available`] print a loud SKIPPED line,
//! and the calling test passes without running.
//!
//! The behavioural suites run each test on both backends (`both_backends!` in `mod.rs`): the
//! PostgreSQL runs share one cluster per test binary, and [`store_url_for`] gives each test's
//! data directory a database of its own on it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Says loudly that a test was skipped, and why: straight to stderr, past the test harness's
/// capture of `eprintln!` (which shows a passing test's output only with `--nocapture`).
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED {test}: {why} ***\n");
}

/// Why a PostgreSQL test cannot run here.
const NO_BINARIES: &str = "no PostgreSQL binaries (initdb, pg_ctl) found; install the `postgresql` package (.ci/run does) to run the PostgreSQL tests";

/// Whether `test` can run on the test binary's shared cluster (started on first use); false
/// after a SKIPPED line when PostgreSQL's binaries are missing.
pub fn available(test: &str) -> bool {
    if bin_dir().is_none() {
        skipped(test, NO_BINARIES);
        return false;
    }
    shared_cluster();
    true
}

/// The directory holding `initdb`, `pg_ctl`, `postgres`, `pg_basebackup` and `psql`:
/// `BORDERLOG_PG_BIN`, else the newest /usr/lib/postgresql/<version>/bin, else the PATH.
pub fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("BORDERLOG_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    })
}

/// The user the server runs as: None when the tests are not root.
fn server_user() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let has_postgres = Command::new("id")
        .arg("postgres")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Some(if has_postgres { "postgres" } else { "nobody" }.to_owned())
}

/// A loopback port nobody listens on at the moment.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One PostgreSQL cluster (a data directory and its server).
pub struct Cluster {
    dir: tempfile::TempDir,
    pub data: PathBuf,
    pub port: u16,
    bin: PathBuf,
    user: Option<String>,
}

impl Cluster {
    /// Makes and starts a fresh cluster; None (after a SKIPPED line) without PostgreSQL.
    pub fn start(test: &str) -> Option<Cluster> {
        let Some(bin) = bin_dir() else {
            skipped(test, NO_BINARIES);
            return None;
        };
        let cluster = Cluster::empty(bin);
        cluster.run(
            "initdb",
            &[
                "-D",
                cluster.data.to_str().unwrap(),
                "-U",
                "borderlog",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        // Replication for the standby tests; small memory, as many tests run at once.
        cluster.append_conf(
            "wal_level = replica\nmax_wal_senders = 4\nshared_buffers = 32MB\nmax_connections = 400\n\
             listen_addresses = '127.0.0.1'\nfsync = on\n",
        );
        std::fs::write(
            cluster.data.join("pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        cluster.chown();
        cluster.start_server();
        Some(cluster)
    }

    /// A cluster directory with nothing in it yet, on a fresh port.
    fn empty(bin: PathBuf) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let user = server_user();
        let cluster = Cluster {
            data: dir.path().join("pgdata"),
            port: free_port(),
            dir,
            bin,
            user,
        };
        cluster.chown();
        cluster
    }

    /// Hands the directory to the server's user.
    fn chown(&self) {
        if let Some(user) = &self.user {
            let ok = Command::new("chown")
                .args(["-R", &format!("{user}:")])
                .arg(self.dir.path())
                .status()
                .unwrap();
            assert!(ok.success(), "chown the cluster directory to {user}");
        }
    }

    fn append_conf(&self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("postgresql.conf"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// Runs one of the server binaries as the server's user; panics on failure.
    fn run(&self, program: &str, args: &[&str]) {
        let out = self.command(program, args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin.join(program);
        let mut c = match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        };
        c.args(args).current_dir(self.dir.path());
        c.stdin(Stdio::null());
        c
    }

    /// Starts the server on its port and waits until it accepts connections.
    pub fn start_server(&self) {
        let log = self.dir.path().join("server.log");
        let opts = format!("-p {} -k {}", self.port, self.dir.path().to_str().unwrap());
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.watchdog();
    }

    /// A shell that stops the server and removes its directory once this test process is
    /// gone, should it die before [`Drop`] runs (the cluster a test binary shares is never
    /// dropped).
    fn watchdog(&self) {
        let stop = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas} {pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            runas = self
                .user
                .as_ref()
                .map(|u| format!("runuser -u {u} --"))
                .unwrap_or_default(),
            pg_ctl = self.bin.join("pg_ctl").display(),
            data = self.data.display(),
            dir = self.dir.path().display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &stop])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// `postgres://` URL of database `db` on this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://borderlog@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL with psql against database `db`; returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("psql {sql}: {e}"))
    }

    /// [`Cluster::psql`], with psql's complaint when the SQL fails.
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    }

    /// Makes an empty database and returns its URL.
    pub fn create_database(&self, db: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {db}"));
        self.url(db)
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }

    /// SIGKILLs the postmaster (its backends exit once they notice): a crash of the machine's
    /// database, as far as clients can tell.
    pub fn kill(&self) {
        let pid = self.pid();
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Orphaned backends still hold shared memory: wait until they are gone too.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data.to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Makes a streaming standby of this cluster (pg_basebackup -R), and starts it. With
    /// `synchronous`, this primary's commits wait for the standby to flush them.
    pub fn standby(&self, synchronous: bool) -> Cluster {
        let standby = Cluster::empty(self.bin.clone());
        let primary = format!("host=127.0.0.1 port={} user=borderlog", self.port);
        standby.run(
            "pg_basebackup",
            &[
                "-d",
                &primary,
                "-D",
                standby.data.to_str().unwrap(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ],
        );
        standby.chown();
        standby.start_server();
        if synchronous {
            self.append_conf("synchronous_standby_names = '*'\nsynchronous_commit = on\n");
            self.psql("postgres", "SELECT pg_reload_conf()");
            let deadline = Instant::now() + Duration::from_secs(60);
            while self.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
            ) != "1"
            {
                assert!(
                    Instant::now() < deadline,
                    "the standby never became synchronous"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        standby
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.data.to_str().unwrap(), "-w", "promote"],
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.psql("postgres", "SELECT pg_is_in_recovery()") != "f" {
            assert!(Instant::now() < deadline, "the standby was not promoted");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self
                .command(
                    "pg_ctl",
                    &["-D", self.data.to_str().unwrap(), "-m", "immediate", "stop"],
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The cluster shared by the PostgreSQL runs of one test binary's behavioural tests.
fn shared_cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        Cluster::start("the shared PostgreSQL cluster")
            .expect("the PostgreSQL runs of the behavioural tests need PostgreSQL's binaries")
    })
}

/// The databases made on the shared cluster, by the data directory they stand for.
fn databases() -> std::sync::MutexGuard<'static, HashMap<PathBuf, String>> {
    static DATABASES: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    DATABASES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The name of the next database made on the shared cluster.
fn next_database(dbs: &HashMap<PathBuf, String>) -> String {
    format!("t{}", dbs.len())
}

/// A database of its own for the ledger in `data` (the same one each time a test restarts a
/// server on the same data directory), on the binary's shared cluster.
pub fn store_url_for(data: &Path) -> String {
    let mut dbs = databases();
    let name = next_database(&dbs);
    dbs.entry(data.to_owned())
        .or_insert_with(|| shared_cluster().create_database(&name))
        .clone()
}

/// Copies the log of `from` (a data directory whose server is stopped) into a new database
/// that stands for `to`, as restoring a backup would.
pub fn copy_database(from: &Path, to: &Path) {
    let source = database(&store_url_for(from)).to_owned();
    let mut dbs = databases();
    assert!(
        !dbs.contains_key(to),
        "{} has a database already",
        to.display()
    );
    let name = next_database(&dbs);
    let cluster = shared_cluster();
    // A template may have no sessions: a stopped store's may take a moment to close.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        cluster.psql(
            "postgres",
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{source}'"
            ),
        );
        match cluster.try_psql(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE {source}"),
        ) {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("copying database {source}: {e}"),
        }
    }
    dbs.insert(to.to_owned(), cluster.url(&name));
}

/// The database name of a store URL.
fn database(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Runs SQL against the database of `url` (on the shared cluster); returns psql's unaligned
/// output.
pub fn query(url: &str, sql: &str) -> String {
    shared_cluster().psql(database(url), sql)
}

/// Waits until no session holds the writer's advisory lock on `url`'s database: a stopped
/// node's store has let go.
pub fn wait_unlocked(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while query(
        url,
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND d.datname = current_database()",
    ) != "0"
    {
        assert!(Instant::now() < deadline, "the writer lock is still held");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The columns of live rows in `url`'s database that contain `needle` (`payloads.content`,
/// `payloads.salt`, `entries.bytes`). Dead row versions (until VACUUM) and the WAL are not
/// searched: README, "PostgreSQL", says what the operator does about them.
pub fn columns_containing(url: &str, needle: &[u8]) -> Vec<String> {
    let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
    let found = query(
        url,
        &format!(
            "SELECT 'payloads.content' FROM payloads WHERE position('\\x{hex}'::bytea IN content) > 0 \
             UNION SELECT 'payloads.salt' FROM payloads WHERE position('\\x{hex}'::bytea IN salt) > 0 \
             UNION SELECT 'entries.bytes' FROM entries WHERE position('\\x{hex}'::bytea IN bytes) > 0"
        ),
    );
    found.lines().map(str::to_owned).collect()
}
