//! [`SimRuntime`]: a single-threaded executor (`futures::executor::LocalPool`) that runs tasks
//! until they stall, then jumps virtual time to the next deadline, and repeats (quinn-proto
//! style). A future that is pending with no deadline left is a deadlock and panics.

use crate::backend::SimBackend;
use futures::channel::mpsc;
use futures::executor::LocalPool;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::task::LocalSpawnExt;
use futures::StreamExt;
use nsplumb_core::{Spawner, Timestamp};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

pub struct SimRuntime {
    pool: LocalPool,
    backend: SimBackend,
}

impl SimRuntime {
    pub fn new(backend: SimBackend) -> Self {
        SimRuntime {
            pool: LocalPool::new(),
            backend,
        }
    }

    pub fn backend(&self) -> &SimBackend {
        &self.backend
    }

    /// Spawns a background task (runs while `block_on` or `run_until_stalled` drive the pool).
    pub fn spawn(&self, fut: impl Future<Output = ()> + 'static) {
        self.pool
            .spawner()
            .spawn_local(fut)
            .expect("the pool lives as long as the runtime");
    }

    /// A [`Spawner`] for a `Plumber` on this runtime: spawned futures travel over a channel to
    /// one pump task here, which drives them all (the pool's own spawner is not `Send`).
    pub fn spawner(&self) -> Spawner {
        let (tx, mut rx) = mpsc::unbounded::<BoxFuture<'static, ()>>();
        let mut tasks: FuturesUnordered<BoxFuture<'static, ()>> = FuturesUnordered::new();
        self.spawn(futures::future::poll_fn(move |cx| loop {
            let mut progressed = false;
            while let Poll::Ready(Some(f)) = rx.poll_next_unpin(cx) {
                tasks.push(f);
                progressed = true;
            }
            while let Poll::Ready(Some(())) = tasks.poll_next_unpin(cx) {
                progressed = true;
            }
            if !progressed {
                return Poll::<()>::Pending;
            }
        }));
        let tx = Mutex::new(tx);
        Arc::new(move |f| {
            let _ = tx
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unbounded_send(f);
        })
    }

    /// Runs every task as far as it goes without moving time.
    pub fn run_until_stalled(&mut self) {
        self.pool.run_until_stalled();
    }

    /// Runs the spawned tasks while virtual time moves to `t`, stopping at every deadline on the
    /// way (timers, DAD, STP) so tasks see each one; ends with time at `t` (never backwards).
    pub fn run_until(&mut self, t: Timestamp) {
        loop {
            self.pool.run_until_stalled();
            match self.backend.next_deadline() {
                Some(d) if d <= t && d > self.backend.kernel().now() => self.backend.advance_to(d),
                Some(d) if d <= t => {
                    // due now (e.g. a zero-delay timer): fire it and go on
                    self.backend.advance_to(d);
                    if self.backend.next_deadline() == Some(d) {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.backend.advance_to(t);
        self.pool.run_until_stalled();
    }

    /// [`SimRuntime::run_until`] now + `d`.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.backend.kernel().now() + d;
        self.run_until(t);
    }

    /// Runs `fut` to completion, jumping virtual time to each next deadline whenever everything
    /// is stalled. Panics on deadlock (pending with no deadline).
    pub fn block_on<T: 'static>(&mut self, fut: impl Future<Output = T> + 'static) -> T {
        // Polled here, not spawned: no box and no copy of the (large) future per call, which
        // P5 (one block_on per lifecycle) measured at several percent.
        let mut fut = std::pin::pin!(fut);
        let woken = Arc::new(Woken(AtomicBool::new(true)));
        let waker = futures::task::waker(woken.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if woken.0.swap(false, Ordering::SeqCst) {
                if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                    // What else is runnable at this instant runs too (background rounds that
                    // are due), as when the future was one task of the pool.
                    self.pool.run_until_stalled();
                    return v;
                }
            }
            self.pool.run_until_stalled();
            if woken.0.load(Ordering::SeqCst) {
                continue;
            }
            match self.backend.next_deadline() {
                Some(t) => self.backend.advance_to(t),
                None => panic!(
                    "SimRuntime deadlock: the future is pending and no virtual-time deadline is left \
                     (now = {:?}); something waits for an event that can never come",
                    self.backend.kernel().now()
                ),
            }
        }
    }
}

/// Whether the future `block_on` drives has been woken since it was last polled.
struct Woken(AtomicBool);

impl futures::task::ArcWake for Woken {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}
