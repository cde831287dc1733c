//! The README is a test: every ```console block in it runs, in order, in a fresh directory
//! against a fresh `borderlog serve` (started here, as the README has a newcomer start it in a
//! second terminal), and each command's output must match the README's, through snapbox's
//! matching: `[..]` for any text within a line, a line `...` for any lines, and the
//! placeholders `[TIME]`, `[HASH]`, `[ORIGIN]` and `[ROOT]` (below). A line `? failed` or
//! `? N` right after a command says it exits non-zero (or with N), as trycmd writes it; any
//! other command must succeed. Other fences (```sh, ```text) are examples, not run.
//!
//! A README that drifts from what the code does fails here.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use snapbox::{Assert, Data, Redactions};

/// One `$ command` of a console block, what it prints and how it exits.
#[derive(Debug)]
struct Step {
    /// README line of the command, for failures.
    line: usize,
    command: String,
    /// None: must succeed; Some(None): must fail; Some(Some(n)): must exit with n.
    status: Option<Option<i32>>,
    expected: String,
}

/// The ```console blocks of a Markdown text, as steps in order.
fn console_steps(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut in_console = false;
    let mut in_other = false;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_end();
        if in_console {
            if trimmed == "```" {
                in_console = false;
            } else if let Some(cmd) = trimmed.strip_prefix("$ ") {
                steps.push(Step {
                    line: n + 1,
                    command: cmd.to_owned(),
                    status: None,
                    expected: String::new(),
                });
            } else {
                let step = steps
                    .last_mut()
                    .unwrap_or_else(|| panic!("README line {}: output before any `$ `", n + 1));
                match trimmed.strip_prefix("? ") {
                    Some(s) if step.expected.is_empty() && step.status.is_none() => {
                        step.status = Some(match s {
                            "failed" => None,
                            code => Some(code.parse().unwrap_or_else(|_| {
                                panic!("README line {}: `? {code}` is not a status", n + 1)
                            })),
                        });
                    }
                    _ => {
                        step.expected.push_str(line);
                        step.expected.push('\n');
                    }
                }
            }
        } else if in_other {
            in_other = trimmed != "```";
        } else if trimmed == "```console" {
            in_console = true;
        } else if trimmed.starts_with("```") {
            in_other = true;
        }
    }
    assert!(!in_console, "README ends inside a ```console block");
    steps
}

/// `borderlog serve` in the walkthrough's directory, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A command as the README's reader runs it: `borderlog` on PATH, in `dir`, talking to `addr`,
/// no RUST_LOG of ours.
fn shell(dir: &Path, addr: &str, command: &str) -> Command {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_borderlog"));
    let path = std::env::join_paths(std::iter::once(bin.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let mut c = Command::new("sh");
    // stderr into stdout, in order, as a terminal shows them.
    c.arg("-c")
        .arg(format!("exec 2>&1; {command}"))
        .current_dir(dir)
        .env("PATH", path)
        .env("BORDERLOG_ADDR", addr)
        .env_remove("RUST_LOG")
        .env_remove("BORDERLOG_KEYS")
        .env_remove("BORDERLOG_DATA")
        .env_remove("BORDERLOG_METRICS_ADDR")
        .stdin(Stdio::null());
    c
}

fn start_server(dir: &Path, addr: &str) -> Server {
    let log = std::fs::File::create(dir.join("serve.log")).unwrap();
    let child = shell(dir, addr, "exec borderlog serve --metrics-addr 127.0.0.1:0")
        .stdout(log)
        .spawn()
        .expect("start borderlog serve");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let probe = shell(dir, addr, "borderlog checkpoint").output().unwrap();
        if probe.status.success() {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come up: {}\n{}",
            String::from_utf8_lossy(&probe.stdout),
            std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn redactions(root: &Path) -> Redactions {
    let mut r = Redactions::new();
    r.insert(
        "[TIME]",
        regex::Regex::new(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z").unwrap(),
    )
    .unwrap();
    // A hash in full, or its first 8, 12 or 16 hex digits before an ellipsis.
    r.insert(
        "[HASH]",
        regex::Regex::new(r"\b([0-9a-f]{64}|(?<redacted>[0-9a-f]{8}|[0-9a-f]{12}|[0-9a-f]{16})…)")
            .unwrap(),
    )
    .unwrap();
    r.insert(
        "[ORIGIN]",
        regex::Regex::new(r"borderlog\.local/[0-9a-f]+").unwrap(),
    )
    .unwrap();
    r.insert("[ROOT]", root.to_path_buf()).unwrap();
    r
}

#[test]
fn every_console_block_of_the_readme_runs_as_shown() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let steps = console_steps(&readme);
    assert!(
        steps.len() >= 10,
        "the README's walkthrough should be ```console blocks; found {} command(s)",
        steps.len()
    );

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().canonicalize().unwrap();
    // A fresh clone's files the walkthrough names.
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        dir.join("examples"),
    )
    .unwrap();
    let addr = free_addr();
    let _server = start_server(&dir, &addr);

    let assert = Assert::new()
        .action_env("SNAPSHOTS")
        .redact_with(redactions(&dir));
    for step in &steps {
        let out = shell(&dir, &addr, &step.command).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let code = out.status.code();
        let ok = match step.status {
            None => out.status.success(),
            Some(None) => !out.status.success(),
            Some(Some(n)) => code == Some(n),
        };
        assert!(
            ok,
            "README.md:{}: `{}` exited with {:?}, the README says {}:\n{text}",
            step.line,
            step.command,
            code,
            match step.status {
                None => "success".to_owned(),
                Some(None) => "`? failed`".to_owned(),
                Some(Some(n)) => format!("`? {n}`"),
            }
        );
        if let Err(e) = assert.try_eq(
            Some(&format!("README.md:{} `{}`", step.line, step.command)),
            Data::text(text),
            Data::text(step.expected.clone()),
        ) {
            panic!("{e}");
        }
    }
}

#[test]
fn console_blocks_are_read_as_written() {
    let md = "text\n```sh\n$ not run\n```\n```console\n$ a --x\none [..]\n$ b\n? failed\nerror: b\n```\n";
    let steps = console_steps(md);
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (
            steps[0].command.as_str(),
            steps[0].expected.as_str(),
            steps[0].line
        ),
        ("a --x", "one [..]\n", 6)
    );
    assert_eq!(steps[1].status, Some(None));
    assert_eq!(steps[1].expected, "error: b\n");
}
