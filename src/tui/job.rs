//! Background work for the screens: one helper for every long job (lint, stats, LoRA inspect
//! and operations, and whatever comes next).
//!
//! A [`Job`] is one slot: starting it again cancels the run in progress and bumps its
//! generation, so only the latest run's messages are ever taken (latest wins, DESIGN.md
//! principle 3). The worker gets a [`Reporter`] with the cancel flag, a progress call and a
//! way to stream items; a thread that cannot be spawned is an error the screen shows.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;

/// Every job slot gets its own number, so a message finds the one slot it belongs to.
static SLOTS: AtomicU64 = AtomicU64::new(1);

/// How far a job has come.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    /// What it works on now (an image, a tensor or module name).
    pub item: String,
}

impl Progress {
    pub fn ratio(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// What a worker sent, untyped on the channel.
#[derive(Debug)]
pub enum Raw {
    Progress(Progress),
    Item(Box<dyn Any + Send>),
    Done(Result<Box<dyn Any + Send>, String>),
}

/// A worker's message, addressed to one slot and one run of it.
#[derive(Debug)]
pub struct JobMsg {
    pub slot: u64,
    pub generation: u64,
    pub raw: Raw,
}

/// A message on the app's channel that may carry a [`JobMsg`].
pub trait Carrier: Sized {
    fn job_slot(&self) -> Option<u64>;
    fn into_job(self) -> Option<JobMsg>;
}

/// A message of the current run, typed.
#[derive(Debug)]
pub enum Update<Item, Out> {
    Progress,
    Item(Item),
    Done(Result<Out, String>),
}

/// Handed to the worker.
pub struct Reporter<M> {
    tx: Sender<M>,
    slot: u64,
    generation: u64,
    cancel: Arc<AtomicBool>,
}

impl<M: From<JobMsg>> Reporter<M> {
    fn send(&self, raw: Raw) {
        // The app is gone when this fails: nobody waits for the result any more.
        let _ = self.tx.send(M::from(JobMsg {
            slot: self.slot,
            generation: self.generation,
            raw,
        }));
    }

    pub fn progress(&self, done: u64, total: u64, item: &str) {
        self.send(Raw::Progress(Progress {
            done,
            total,
            item: item.to_string(),
        }));
    }

    /// Streams one result before the end (a lint finding as it is found).
    pub fn item<T: Send + 'static>(&self, item: T) {
        self.send(Raw::Item(Box::new(item)));
    }

    /// The cancel flag, for core functions that take one.
    pub fn flag(&self) -> &AtomicBool {
        &self.cancel
    }
}

/// One job slot of a screen: `Item` is what the worker streams, `Out` what it ends with.
pub struct Job<Item, Out> {
    slot: u64,
    generation: u64,
    cancel: Arc<AtomicBool>,
    running: bool,
    progress: Progress,
    _types: PhantomData<fn() -> (Item, Out)>,
}

impl<Item: 'static, Out: 'static> Default for Job<Item, Out> {
    fn default() -> Self {
        Job::new()
    }
}

impl<Item: 'static, Out: 'static> Job<Item, Out> {
    pub fn new() -> Self {
        Job {
            slot: SLOTS.fetch_add(1, Ordering::Relaxed),
            generation: 0,
            cancel: Arc::new(AtomicBool::new(false)),
            running: false,
            progress: Progress::default(),
            _types: PhantomData,
        }
    }

    /// Starts `work` on a thread named `name`, cancelling the run in progress (its messages
    /// are dropped from now on). `Err` says why no thread could be started.
    pub fn start<M, F>(&mut self, tx: &Sender<M>, name: &str, work: F) -> Result<(), String>
    where
        M: From<JobMsg> + Send + 'static,
        Out: Send,
        F: FnOnce(&Reporter<M>) -> Result<Out, String> + Send + 'static,
    {
        let builder = std::thread::Builder::new().name(name.to_string());
        self.start_on(builder, tx, name, work)
    }

    fn start_on<M, F>(
        &mut self,
        builder: std::thread::Builder,
        tx: &Sender<M>,
        name: &str,
        work: F,
    ) -> Result<(), String>
    where
        M: From<JobMsg> + Send + 'static,
        Out: Send,
        F: FnOnce(&Reporter<M>) -> Result<Out, String> + Send + 'static,
    {
        self.cancel();
        self.generation += 1;
        self.cancel = Arc::new(AtomicBool::new(false));
        self.progress = Progress::default();
        let reporter = Reporter {
            tx: tx.clone(),
            slot: self.slot,
            generation: self.generation,
            cancel: Arc::clone(&self.cancel),
        };
        let spawned = builder.spawn(move || {
            let result = work(&reporter).map(|out| Box::new(out) as Box<dyn Any + Send>);
            reporter.send(Raw::Done(result));
        });
        match spawned {
            Ok(_) => {
                self.running = true;
                Ok(())
            }
            Err(e) => {
                self.running = false;
                Err(format!("cannot start the {name} worker: {e}"))
            }
        }
    }

    /// Asks the worker to stop (it checks the flag between steps); its result still comes.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Forgets the run in progress: it is cancelled and nothing of it will be taken.
    pub fn drop_run(&mut self) {
        self.cancel();
        self.generation += 1;
        self.running = false;
    }

    pub fn running(&self) -> bool {
        self.running
    }

    /// Whether a cancel was asked for the run in progress.
    pub fn cancelling(&self) -> bool {
        self.running && self.cancel.load(Ordering::Relaxed)
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Takes `msg` when it is this slot's; `Some` only for the current run (a stale message is
    /// taken and dropped).
    pub fn take<M: Carrier>(&mut self, msg: &mut Option<M>) -> Option<Update<Item, Out>> {
        let mine = msg
            .as_ref()
            .is_some_and(|m| m.job_slot() == Some(self.slot));
        if !mine {
            return None;
        }
        let m = msg.take()?.into_job()?;
        if m.generation != self.generation {
            return None;
        }
        match m.raw {
            Raw::Progress(p) => {
                self.progress = p;
                Some(Update::Progress)
            }
            Raw::Item(b) => b.downcast::<Item>().ok().map(|b| Update::Item(*b)),
            Raw::Done(result) => {
                self.running = false;
                Some(Update::Done(result.and_then(|b| {
                    b.downcast::<Out>()
                        .map(|b| *b)
                        .map_err(|_| "the worker sent an unexpected result".to_string())
                })))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    impl Carrier for JobMsg {
        fn job_slot(&self) -> Option<u64> {
            Some(self.slot)
        }
        fn into_job(self) -> Option<JobMsg> {
            Some(self)
        }
    }

    fn next(rx: &mpsc::Receiver<JobMsg>) -> Option<JobMsg> {
        rx.recv_timeout(Duration::from_secs(10)).ok()
    }

    #[test]
    fn the_latest_run_wins_and_streams_progress_and_items() {
        let (tx, rx) = mpsc::channel::<JobMsg>();
        let mut job: Job<u32, String> = Job::new();
        let (gate_tx, gate_rx) = mpsc::channel::<()>();
        job.start(&tx, "first", move |_r: &Reporter<JobMsg>| {
            let _ = gate_rx.recv_timeout(Duration::from_secs(10));
            Ok("stale".to_string())
        })
        .unwrap();
        job.start(&tx, "second", |r: &Reporter<JobMsg>| {
            r.progress(1, 2, "a");
            r.item(7u32);
            Ok("fresh".to_string())
        })
        .unwrap();
        let _ = gate_tx.send(());
        // Four messages in all (the first run's result, whenever it comes, and the second
        // run's three); only the second run's are given back.
        let mut got = Vec::new();
        for _ in 0..4 {
            let mut m = next(&rx);
            assert!(m.is_some(), "a message is missing");
            if let Some(u) = job.take(&mut m) {
                got.push(format!("{u:?}"));
            }
            assert!(m.is_none(), "every message of this slot is taken");
        }
        assert_eq!(got, ["Progress", "Item(7)", "Done(Ok(\"fresh\"))"]);
        assert_eq!(job.progress().item, "a");
        assert!(!job.running());
    }

    #[test]
    fn another_slots_message_is_left_alone_and_cancel_reaches_the_worker() {
        let (tx, rx) = mpsc::channel::<JobMsg>();
        let mut a: Job<(), bool> = Job::new();
        let mut b: Job<(), bool> = Job::new();
        a.start(&tx, "a", |r: &Reporter<JobMsg>| {
            while !r.flag().load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(true)
        })
        .unwrap();
        a.cancel();
        assert!(a.cancelling());
        let mut m = next(&rx);
        assert!(b.take(&mut m).is_none());
        assert!(m.is_some(), "not b's");
        assert!(matches!(a.take(&mut m), Some(Update::Done(Ok(true)))));
        assert!(!a.running());
    }

    #[test]
    fn a_failed_spawn_is_an_error_and_nothing_runs() {
        let (tx, _rx) = mpsc::channel::<JobMsg>();
        let mut job: Job<(), ()> = Job::new();
        // A 1 PiB stack is more than the address space: the OS refuses the thread.
        let huge = std::thread::Builder::new().stack_size(1 << 50);
        let e = job
            .start_on(huge, &tx, "huge", |_r: &Reporter<JobMsg>| Ok(()))
            .unwrap_err();
        assert!(e.contains("cannot start the huge worker"), "{e}");
        assert!(!job.running());
    }
}
