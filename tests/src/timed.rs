//! A [`NetBackend`] middleware that counts and times every backend call, per operation: the
//! in-process profile of where an attach spends its time (kernel round trips vs the rest).

use nsplumb_core::{
    BackendError, LinkEvents, NetBackend, NetnsAdmin, NetnsRef, Op, Reply, Request, Timestamp,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Calls and total wall time per operation.
pub type OpStats = BTreeMap<Op, (u64, Duration)>;

pub struct Timed<B> {
    pub inner: B,
    per_op: Mutex<OpStats>,
}

impl<B: NetBackend> Timed<B> {
    pub fn new(inner: B) -> Timed<B> {
        Timed {
            inner,
            per_op: Mutex::new(BTreeMap::new()),
        }
    }

    /// The counters so far, and reset them.
    pub fn take(&self) -> OpStats {
        std::mem::take(&mut *self.per_op.lock().unwrap_or_else(|p| p.into_inner()))
    }

    async fn t<T>(&self, op: Op, f: impl Future<Output = T>) -> T {
        let start = Instant::now();
        let r = f.await;
        let d = start.elapsed();
        let mut m = self.per_op.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(op).or_default();
        e.0 += 1;
        e.1 += d;
        r
    }
}

impl<B: NetBackend> NetBackend for Timed<B> {
    fn now(&self) -> Timestamp {
        self.inner.now()
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        self.inner.sleep_until(deadline).await
    }

    async fn execute(&self, request: &Request) -> Result<Reply, BackendError> {
        self.t(request.op(), self.inner.execute(request)).await
    }

    async fn subscribe_links(&self, netns: &NetnsRef) -> Result<LinkEvents, BackendError> {
        self.t(Op::SubscribeLinks, self.inner.subscribe_links(netns))
            .await
    }

    async fn prepare_netns(&self, netns: &NetnsRef) {
        self.inner.prepare_netns(netns).await
    }
}

impl<B: NetnsAdmin> NetnsAdmin for Timed<B> {
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
