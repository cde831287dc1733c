//! `borderlog submit` with many disclosures: files, a directory, or JSON lines on stdin, sent
//! on one SubmitStream, each receipt verified as it comes back, with a progress bar.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::submit::{SubmitArgs, load_items, receipt_json};
use super::{read_file, status_error};
use crate::client::{self, DisclosureHeader, ReceiptChecker};
use crate::format::note::Verifier;
use crate::pb;

/// Disclosures signed ahead of the server's answers; the stream's flow control bounds the rest.
const SIGN_AHEAD: usize = 64;

/// Where the disclosures come from.
pub enum Inputs {
    /// One disclosure per file, in this order.
    Files(Vec<PathBuf>),
    /// One disclosure per non-empty line of stdin.
    Stdin,
}

impl Inputs {
    /// The files named (a directory stands for its `*.json` files, sorted by name), or stdin
    /// for `-` or no argument.
    pub fn of(args: &[PathBuf]) -> anyhow::Result<Inputs> {
        if args.is_empty() || (args.len() == 1 && args[0].as_os_str() == "-") {
            return Ok(Inputs::Stdin);
        }
        let mut files = Vec::new();
        for path in args {
            if path.as_os_str() == "-" {
                bail!("`-` (stdin) cannot be mixed with files");
            }
            if !path.is_dir() {
                files.push(path.clone());
                continue;
            }
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read directory {}", path.display()))?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .with_context(|| format!("cannot read directory {}", path.display()))?;
            found.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"));
            found.sort();
            files.extend(found);
        }
        if files.is_empty() {
            bail!("no .json files to submit");
        }
        Ok(Inputs::Files(files))
    }
}

/// Sends every input as one disclosure on one SubmitStream and checks every receipt. Fails
/// (after all are answered) when any input could not be read or was not accepted.
pub async fn run(
    args: &SubmitArgs,
    inputs: Inputs,
    key: &SigningKey,
    header: &DisclosureHeader,
    log: Verifier,
) -> anyhow::Result<()> {
    let json = args.client.json;
    let bar = progress(&inputs, json);
    let mut api = client::connect(&args.client.addr, &args.client.keys, &header.sender).await?;
    let (requests, outgoing) = mpsc::channel::<pb::SubmitRequest>(SIGN_AHEAD);
    // The name of each disclosure sent, in order: answers come back in the same order.
    let (names_tx, mut names) = mpsc::unbounded_channel::<String>();
    let (key, header, tlp) = (key.clone(), header.clone(), args.tlp.clone());
    let bar_for_reader = bar.clone();
    let reader = tokio::spawn(async move {
        let mut unread = 0u64;
        let mut sources = sources(inputs);
        while let Some((name, bytes)) = sources.next().await {
            let prepared = bytes.and_then(|bytes| {
                let items = load_items(&bytes, tlp.as_deref())?;
                Ok(client::prepare_submission(
                    &key,
                    &header,
                    items,
                    crate::clock::now_ms(),
                )?)
            });
            match prepared {
                Ok(request) => {
                    if names_tx.send(name).is_err() || requests.send(request).await.is_err() {
                        break; // the stream ended early; its error is reported below
                    }
                }
                Err(e) => {
                    unread += 1;
                    say(&bar_for_reader, format!("{name}: not sent: {e:#}"));
                    bar_for_reader.inc(1);
                }
            }
        }
        unread
    });
    let mut answers = api
        .submit_stream(ReceiverStream::new(outgoing))
        .await
        .map_err(status_error)?
        .into_inner();
    let mut checker = ReceiptChecker::new(log);
    let (mut accepted, mut failed) = (0u64, 0u64);
    let mut last_size = 0;
    while let Some(answer) = answers.next().await {
        let answer = answer.map_err(status_error)?;
        let name = names.recv().await.unwrap_or_default();
        match answer.result {
            Some(pb::submit_stream_response::Result::Receipt(receipt)) => {
                let checkpoint = checker
                    .check(&receipt)
                    .with_context(|| format!("{name}: the receipt does not verify"))?;
                last_size = checkpoint.size;
                accepted += 1;
                if json {
                    let mut line = receipt_json(&receipt);
                    line["input"] = name.into();
                    println!("{line}");
                }
            }
            Some(pb::submit_stream_response::Result::Error(error)) => {
                failed += 1;
                let error = status_error(client::submit_error_status(&error));
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"input": name, "error": format!("{error:#}")})
                    );
                } else {
                    say(&bar, format!("{name}: {error:#}"));
                }
            }
            None => bail!("{name}: the server's answer holds neither a receipt nor an error"),
        }
        bar.inc(1);
    }
    let unread = reader.await.context("the input reader failed")?;
    bar.finish_and_clear();
    let sent = accepted + failed;
    if !json {
        println!(
            "disclosed {accepted} of {} disclosure(s) on one stream; every receipt verified (last against the checkpoint of size {last_size})",
            sent + unread
        );
    }
    if failed + unread > 0 {
        bail!("{failed} disclosure(s) not accepted, {unread} input(s) not sent");
    }
    Ok(())
}

/// A line on stderr, above the progress bar when it shows (a hidden bar prints nothing).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// A progress bar on stderr (hidden for --json and when stderr is no terminal): its length is
/// the number of files, or unknown on stdin.
fn progress(inputs: &Inputs, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let (bar, template) = match inputs {
        Inputs::Files(files) => (
            ProgressBar::new(files.len() as u64),
            "{bar:40} {pos}/{len} disclosures {per_sec} eta {eta}",
        ),
        Inputs::Stdin => (
            ProgressBar::no_length(),
            "{spinner} {pos} disclosures {per_sec}",
        ),
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Each input's name and bytes, read on a blocking thread: a file's name and contents, or
/// `stdin:N` and the Nth non-empty line.
fn sources(inputs: Inputs) -> ReceiverStream<(String, anyhow::Result<Vec<u8>>)> {
    let (tx, rx) = mpsc::channel(SIGN_AHEAD);
    tokio::task::spawn_blocking(move || match inputs {
        Inputs::Files(files) => {
            for file in files {
                let read = read_file(&file);
                if tx
                    .blocking_send((file.display().to_string(), read))
                    .is_err()
                {
                    return;
                }
            }
        }
        Inputs::Stdin => {
            for (n, line) in std::io::stdin().lock().lines().enumerate() {
                let line = line.context("cannot read stdin");
                let broke = line.is_err();
                let item = line.map(String::into_bytes);
                if item.as_ref().is_ok_and(|l| l.trim_ascii().is_empty()) {
                    continue;
                }
                if tx
                    .blocking_send((format!("stdin:{}", n + 1), item))
                    .is_err()
                    || broke
                {
                    return;
                }
            }
        }
    });
    ReceiverStream::new(rx)
}
