//! Fault injection as a middleware around any `NetBackend`'s `execute` (and its link
//! subscription), in the style of smoltcp's `FaultInjector`: seeded, per [`Op`]
//! ([`Request::op`]); fail the next call, the nth call from now, or each call with a
//! probability, with a chosen errno; and an optional virtual-time delay per op (slept on the
//! wrapped backend's clock). A failed call never reaches the wrapped backend, so it has no side
//! effect.

use crate::rng::Rng;
use nsplumb_core::{
    BackendError, Errno, LinkEvents, NetBackend, NetnsAdmin, NetnsRef, Op, Reply, Request,
    Timestamp,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One programmed fault.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultRule {
    /// Fail the next call of the op.
    FailNext(Errno),
    /// Fail the nth call from now (1 = the next one).
    FailNth(u64, Errno),
    /// Fail each call with probability `p` (0..=1), drawn from the seeded generator.
    FailWithProbability(f64, Errno),
    /// Delay every call of the op by this much virtual time before running it.
    Delay(Duration),
}

#[derive(Default)]
struct OpPlan {
    /// Calls remaining until each pending countdown fault fires.
    countdown: Vec<(u64, Errno)>,
    probability: Option<(f64, Errno)>,
    delay: Option<Duration>,
}

struct Plan {
    rng: Rng,
    ops: HashMap<Op, OpPlan>,
    injected: u64,
}

/// Shared between the layer and its handles: the plan, and a flag that lets calls skip the
/// lock entirely while no rule is programmed (the common case in benchmarks).
struct Shared {
    armed: AtomicBool,
    plan: Mutex<Plan>,
}

/// Programs the faults of a [`Faulty`] layer; clones share the plan.
#[derive(Clone)]
pub struct FaultHandle {
    shared: Arc<Shared>,
}

impl FaultHandle {
    fn plan(&self) -> MutexGuard<'_, Plan> {
        self.shared.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, op: Op, rule: FaultRule) {
        self.shared.armed.store(true, Ordering::SeqCst);
        let mut p = self.plan();
        let e = p.ops.entry(op).or_default();
        match rule {
            FaultRule::FailNext(errno) => e.countdown.push((1, errno)),
            FaultRule::FailNth(n, errno) => e.countdown.push((n.max(1), errno)),
            FaultRule::FailWithProbability(pr, errno) => e.probability = Some((pr, errno)),
            FaultRule::Delay(d) => e.delay = Some(d),
        }
    }

    pub fn fail_next(&self, op: Op, errno: Errno) {
        self.add(op, FaultRule::FailNext(errno));
    }

    pub fn fail_nth(&self, op: Op, n: u64, errno: Errno) {
        self.add(op, FaultRule::FailNth(n, errno));
    }

    pub fn fail_with_probability(&self, op: Op, p: f64, errno: Errno) {
        self.add(op, FaultRule::FailWithProbability(p, errno));
    }

    pub fn delay(&self, op: Op, d: Duration) {
        self.add(op, FaultRule::Delay(d));
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.plan().ops.clear();
    }

    /// How many calls failed by injection so far.
    pub fn injected(&self) -> u64 {
        self.plan().injected
    }

    /// Whether any rule was ever programmed.
    fn armed(&self) -> bool {
        self.shared.armed.load(Ordering::Relaxed)
    }

    /// Decides the fate of one call: (delay, failure).
    fn decide(&self, op: Op) -> (Option<Duration>, Option<Errno>) {
        if !self.armed() {
            return (None, None);
        }
        let mut p = self.plan();
        let Plan { rng, ops, injected } = &mut *p;
        let Some(e) = ops.get_mut(&op) else {
            return (None, None);
        };
        let mut fail = None;
        for c in e.countdown.iter_mut() {
            c.0 -= 1;
            if c.0 == 0 && fail.is_none() {
                fail = Some(c.1);
            }
        }
        e.countdown.retain(|c| c.0 > 0);
        if fail.is_none() {
            if let Some((pr, errno)) = e.probability {
                if rng.unit() < pr {
                    fail = Some(errno);
                }
            }
        }
        if fail.is_some() {
            *injected += 1;
        }
        (e.delay, fail)
    }
}

/// A `NetBackend` that injects faults before delegating to `B`.
#[derive(Clone)]
pub struct Faulty<B> {
    inner: B,
    handle: FaultHandle,
}

impl<B: NetBackend> Faulty<B> {
    pub fn new(inner: B, seed: u64) -> (Self, FaultHandle) {
        let handle = FaultHandle {
            shared: Arc::new(Shared {
                armed: AtomicBool::new(false),
                plan: Mutex::new(Plan {
                    rng: Rng::new(seed),
                    ops: HashMap::new(),
                    injected: 0,
                }),
            }),
        };
        (
            Faulty {
                inner,
                handle: handle.clone(),
            },
            handle,
        )
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }

    pub fn handle(&self) -> &FaultHandle {
        &self.handle
    }

    async fn gate(
        &self,
        op: Op,
        netns: &NetnsRef,
        object: impl FnOnce() -> String + Send,
    ) -> Result<(), BackendError> {
        let (delay, fail) = self.handle.decide(op);
        if let Some(d) = delay {
            let at = self.inner.now() + d;
            self.inner.sleep_until(at).await;
        }
        match fail {
            Some(errno) => {
                Err(BackendError::new(op, errno, netns, object()).with_detail("injected fault"))
            }
            None => Ok(()),
        }
    }
}

impl<B: NetBackend> NetBackend for Faulty<B> {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        self.inner.sleep_until(deadline).await
    }

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        // No rule programmed (the common case): straight through, no gate to await.
        if self.handle.armed() {
            self.gate(request.op(), request.netns(), || request.object())
                .await?;
        }
        self.inner.execute(request).await
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        self.gate(Op::SubscribeLinks, netns, || "links".into())
            .await?;
        self.inner.subscribe_links(netns).await
    }

    async fn prepare_netns(&self, netns: &NetnsRef) {
        self.inner.prepare_netns(netns).await
    }
}

/// Namespace administration is not faulted: no test needs it, and the core never calls it.
impl<B: NetnsAdmin> NetnsAdmin for Faulty<B> {
    async fn create_netns(&self, name: &str) -> Result<NetnsRef, BackendError> {
        self.inner.create_netns(name).await
    }

    async fn delete_netns(&self, netns: &NetnsRef) -> Result<(), BackendError> {
        self.inner.delete_netns(netns).await
    }

    async fn list_netns(&self) -> Result<Vec<NetnsRef>, BackendError> {
        self.inner.list_netns().await
    }

    async fn netns_cookie(&self, netns: &NetnsRef) -> Result<Option<u64>, BackendError> {
        self.inner.netns_cookie(netns).await
    }
}
