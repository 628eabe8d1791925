//! A second thread for one scan when the machine has a core to spare.
//!
//! A scan first runs the header rules and evals, then the body, URI,
//! rawbody and full rules, which need the literal prefilter's scans of
//! their text and the gates' scans of the body. Those scans do not depend
//! on any rule, so when fewer scans are running than there are cores (a
//! lightly loaded daemon, one client), one helper thread does them while
//! the scan's own thread runs the header rules, and hands them over when
//! the first body rule needs them. Under load every core already runs a
//! scan of its own and nothing is handed off. The results are the same
//! either way; only where they are computed changes.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use super::{Prefilter, gate, prefilter};

type Job = Box<dyn FnOnce() + Send>;

/// Scans running now, in this process.
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Whether the helper is working on a job.
static BUSY: AtomicBool = AtomicBool::new(false);
/// The helper's queue, its thread started on first use (None if it could
/// not be started).
static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();

/// Counts a scan as running while it lives.
pub(crate) struct InFlight(());

impl InFlight {
    pub(crate) fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The class scans of one message, filled in on first use by the scan's
/// thread or, working from the other end, by the helper.
#[derive(Debug)]
pub(crate) struct Scans {
    pub body: OnceLock<prefilter::Seen>,
    pub rawbody: OnceLock<prefilter::Seen>,
    pub uri: OnceLock<prefilter::Seen>,
    pub full: OnceLock<prefilter::Seen>,
    /// Per gate group.
    pub gates: Vec<OnceLock<gate::Lines>>,
    /// The scan is over: the helper stops.
    over: AtomicBool,
}

impl Scans {
    pub(crate) fn new(gates: usize) -> Scans {
        Scans {
            body: OnceLock::new(),
            rawbody: OnceLock::new(),
            uri: OnceLock::new(),
            full: OnceLock::new(),
            gates: (0..gates).map(|_| OnceLock::new()).collect(),
            over: AtomicBool::new(false),
        }
    }
}

/// Tells the helper the scan is over when dropped.
pub(crate) struct Sharing(Arc<Scans>);

impl Drop for Sharing {
    fn drop(&mut self) {
        self.0.over.store(true, Ordering::Relaxed);
    }
}

/// The texts the class scans read, copied for the helper.
pub(crate) struct Texts {
    pub body: Vec<Vec<u8>>,
    pub rawbody: Vec<Vec<u8>>,
    pub uris: Vec<String>,
    pub full: Vec<u8>,
}

fn cores() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = channel::<Job>();
            std::thread::Builder::new()
                .name("spamd-scan-helper".into())
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        // A panicking job drops its reply channel; the
                        // scan then computes what it needs itself.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        BUSY.store(false, Ordering::Release);
                    }
                })
                .ok()
                .map(|_| Mutex::new(tx))
        })
        .as_ref()
}

/// Have the helper fill in `scans` too, if a core is free and the helper
/// idle (`texts` is called only then), in the reverse of the order the
/// scan's own thread needs them: the full text's, the URIs', the rawbody's,
/// the gates' from the last group, the body's.
pub(crate) fn share(
    pf: &Arc<Prefilter>,
    scans: &Arc<Scans>,
    texts: impl FnOnce() -> Texts,
) -> Option<Sharing> {
    if cores() < 2 || IN_FLIGHT.load(Ordering::Relaxed) >= cores() {
        return None;
    }
    if BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return None;
    }
    let Some(q) = queue() else {
        BUSY.store(false, Ordering::Release);
        return None;
    };
    let t = texts();
    let (pf, sc) = (pf.clone(), scans.clone());
    let job: Job = Box::new(move || {
        let body: Vec<&[u8]> = t.body.iter().map(Vec::as_slice).collect();
        let raw: Vec<&[u8]> = t.rawbody.iter().map(Vec::as_slice).collect();
        let over = || sc.over.load(Ordering::Relaxed);
        sc.full
            .get_or_init(|| pf.full.scan(std::iter::once(t.full.as_slice())));
        if over() {
            return;
        }
        sc.uri
            .get_or_init(|| pf.uri.scan(t.uris.iter().map(|u| u.as_bytes())));
        if over() {
            return;
        }
        sc.rawbody
            .get_or_init(|| pf.rawbody.scan(raw.iter().copied()));
        for (g, cell) in sc.gates.iter().enumerate().rev() {
            if over() {
                return;
            }
            let g = g as u32;
            cell.get_or_init(|| match pf.gates.class(g) {
                gate::Class::Body => pf.gates.scan(g, body.iter().copied()),
                gate::Class::Rawbody => pf.gates.scan(g, raw.iter().copied()),
            });
        }
        if !over() {
            sc.body.get_or_init(|| pf.body.scan(body.iter().copied()));
        }
    });
    let sent = q.lock().ok().map(|q| q.send(job).is_ok()).unwrap_or(false);
    if !sent {
        BUSY.store(false, Ordering::Release);
        return None;
    }
    Some(Sharing(scans.clone()))
}
