//! Worker threads for the deferred checks, with a bounded queue so memory stays flat however
//! far the reader runs ahead.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::deferred::{BatchResult, Job, run_batch};

/// Worker threads for deferred checks, with a bounded queue so memory stays flat.
pub(super) struct Pool {
    jobs: Option<SyncSender<Vec<Job>>>,
    results: Receiver<BatchResult>,
    outstanding: usize,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub(super) fn new(threads: usize) -> Pool {
        let (jobs, rx) = sync_channel::<Vec<Job>>(threads * 2);
        let rx = Arc::new(Mutex::new(rx));
        let (tx, results) = std::sync::mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let tx = tx.clone();
                std::thread::spawn(move || {
                    loop {
                        let next = rx.lock().map(|r| r.recv());
                        let Ok(Ok(batch)) = next else { return };
                        if tx.send(run_batch(batch)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(jobs),
            results,
            outstanding: 0,
            workers,
        }
    }

    pub(super) fn submit(&mut self, batch: Vec<Job>) {
        if let Some(jobs) = &self.jobs {
            // Blocks while the queue is full: backpressure on the reader.
            if jobs.send(batch).is_ok() {
                self.outstanding += 1;
            }
        }
    }

    pub(super) fn try_result(&mut self) -> Option<BatchResult> {
        let r = self.results.try_recv().ok()?;
        self.outstanding -= 1;
        Some(r)
    }

    pub(super) fn wait_all(&mut self) -> Vec<BatchResult> {
        let mut out = Vec::new();
        while self.outstanding > 0 {
            match self.results.recv() {
                Ok(r) => {
                    self.outstanding -= 1;
                    out.push(r);
                }
                Err(_) => break,
            }
        }
        out
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
