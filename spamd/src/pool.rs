//! The scanning workers: `--max-children` long-lived threads.
//!
//! Scans used to run on tokio's blocking pool, whose threads come and go.
//! A thread that finds a rule regex's shared match cache busy takes a spare
//! one (`spamcore::rules::perlre`), and PCRE2's match data is kept per
//! thread, so threads that come and go would grow memory. A fixed set of
//! workers bounds that: at most `--max-children` caches per regex, however
//! long the daemon runs and however many clients it serves.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of worker threads that run scan jobs.
pub struct ScanPool {
    queue: Mutex<mpsc::Sender<Job>>,
    /// Jobs queued or running.
    busy: Arc<AtomicUsize>,
}

impl ScanPool {
    /// Start `n` workers (at least one).
    pub fn new(n: usize) -> std::io::Result<ScanPool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for k in 0..n.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("spamd-scan-{k}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // A panicking scan must not take its worker down;
                        // its caller sees the dropped reply channel.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(ScanPool {
            queue: Mutex::new(tx),
            busy: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Whether any job is queued or running (background work waits for
    /// the workers to be idle).
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    /// Run `f` on a worker and wait for its result without blocking the
    /// async runtime. `Err` when the job panicked.
    pub async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Counted until the job ends, also when it panics (the guard drops).
        let guard = BusyGuard::new(&self.busy);
        let job: Job = Box::new(move || {
            let _guard = guard;
            let _ = tx.send(f());
        });
        self.queue
            .lock()
            .map_err(|_| "scan queue poisoned".to_string())?
            .send(job)
            .map_err(|_| "scan workers stopped".to_string())?;
        rx.await.map_err(|_| "the scan panicked".to_string())
    }
}

/// One job counted in [`ScanPool::is_busy`] while it lives.
struct BusyGuard(Arc<AtomicUsize>);

impl BusyGuard {
    fn new(busy: &Arc<AtomicUsize>) -> BusyGuard {
        busy.fetch_add(1, Ordering::Relaxed);
        BusyGuard(busy.clone())
    }
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = ScanPool::new(2).unwrap();
        assert_eq!(pool.run(|| 6 * 7).await, Ok(42));
        let r: Result<(), String> = pool.run(|| panic!("boom")).await;
        assert!(r.is_err());
        assert!(!pool.is_busy(), "a finished or panicked job is not counted");
        let names: Vec<String> = futures_join(&pool).await;
        assert!(
            names.iter().all(|n| n.starts_with("spamd-scan-")),
            "{names:?}"
        );
    }

    async fn futures_join(pool: &ScanPool) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..4 {
            out.push(
                pool.run(|| std::thread::current().name().unwrap_or("").to_string())
                    .await
                    .unwrap(),
            );
        }
        out
    }
}
