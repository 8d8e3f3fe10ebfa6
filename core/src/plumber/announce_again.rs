//! SPEC S5 from a process other than the one that attached: a front end whose attach must
//! return at once (the CNI plugin's ADD) leaves the remaining announcements to a process of its
//! own, which runs them here, in its foreground, with the same machine and the same checks
//! before every send (S6) as the background announcements of [`Plumber::attach`].

use super::{lock, AnnounceControl, Plumber};
use crate::announce::{AnnounceTarget, Announcer};
use crate::backend::NetBackend;
use crate::event::StopReason;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

impl<B: NetBackend> Plumber<B> {
    /// Send `target.count` rounds, the first now and each next one `target.interval` after the
    /// previous; returns why announcing stopped. [`Plumber::cancel_announce`] stops it (S8).
    pub async fn announce(&self, target: AnnounceTarget) -> StopReason {
        let key = (target.netns.clone(), target.iface.clone());
        let announcer = Announcer::new(target, self.inner.backend.now());
        let control = Arc::new(AnnounceControl {
            announcer: futures::lock::Mutex::new(announcer),
            cancelled: AtomicBool::new(false),
            waker: futures::task::AtomicWaker::new(),
        });
        lock(&self.inner.announcers).insert(key, control.clone());
        self.inner
            .clone()
            .announce_in_background(control.clone())
            .await;
        let announcer = control.announcer.lock().await;
        announcer
            .stop_reason()
            .cloned()
            .unwrap_or(StopReason::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MockNetBackend;
    use crate::command::Reply;
    use crate::request::Request;
    use crate::testutil::{link, mac};
    use crate::types::{NetnsRef, Timestamp};
    use futures::executor::block_on;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::time::Duration;

    fn ready<T: Send + 'static>(value: T) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(std::future::ready(value))
    }

    // SPEC: S5, S6 (the remaining rounds, one interval apart, each after a look at the link)
    #[test]
    fn every_round_is_sent_one_interval_after_the_previous_after_a_look_at_the_link() {
        let ns = NetnsRef::path("/run/netns/ctr1");
        let clock = Arc::new(Mutex::new(Timestamp::ZERO));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut b = MockNetBackend::new();
        let c = clock.clone();
        b.expect_now().returning(move || *c.lock().unwrap());
        let c = clock.clone();
        b.expect_sleep_until().returning(move |t| {
            *c.lock().unwrap() = t;
            ready(())
        });
        let (log, c) = (sent.clone(), clock.clone());
        b.expect_execute().returning(move |request| {
            let now = *c.lock().unwrap();
            log.lock().unwrap().push((now, request.op()));
            ready(Ok(match request {
                Request::LinkByIndex { .. } => Reply::Link(crate::types::LinkInfo {
                    mac: Some(mac(1)),
                    ..link(7, "eth0", true)
                }),
                _ => Reply::Done,
            }))
        });
        let p = Plumber::new(Arc::new(b), Arc::new(|_f| panic!("no background work")));
        let target = AnnounceTarget {
            netns: ns,
            iface: "eth0".into(),
            index: 7,
            mac: mac(1),
            ipv4: Some("192.0.2.5".parse().unwrap()),
            ipv6: None,
            count: 2,
            interval: Duration::from_millis(500),
            mcast_route_ok: true,
        };
        assert_eq!(block_on(p.announce(target)), StopReason::Done);
        let t1 = Timestamp::ZERO + Duration::from_millis(500);
        use crate::Op::{GetLink, SendArp};
        assert_eq!(
            *sent.lock().unwrap(),
            [
                (Timestamp::ZERO, GetLink),
                (Timestamp::ZERO, SendArp),
                (t1, GetLink),
                (t1, SendArp)
            ]
        );
    }
}
