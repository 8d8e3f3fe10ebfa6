//! Kernel changes a host-state layer needs outside the attach and detach machines: removing
//! what a process that died left half done (SPEC R1) and a gateway route set by an earlier
//! process (G1, G4). Each is one request to the backend, under the core's error wording and registry bookkeeping.

use super::{lock, Plumber};
use crate::backend::NetBackend;
use crate::error::StepError;
use crate::request::Request;
use crate::types::{IfIndex, NetnsRef, RouteSpec};
use crate::Errno;

impl<B: NetBackend> Plumber<B> {
    /// Delete one link that nsplumb made and no longer registers (a veth pair whose attach
    /// was cut short: deleting one end takes its peer along). A link already gone is fine.
    pub async fn delete_link(&self, netns: &NetnsRef, index: IfIndex) -> Result<(), StepError> {
        let request = Request::DeleteLinks {
            netns: netns.clone(),
            indices: vec![index],
        };
        match self.backend().execute(&request).await {
            Ok(_) => Ok(()),
            Err(e) if e.is(Errno::ENODEV) => Ok(()),
            Err(e) => Err(StepError::new(
                format!("failed to delete link {index} in namespace {netns}"),
                Some(e),
            )),
        }
    }

    /// Delete a route, whoever added it (G1: the gateway an earlier process set; G4: one left
    /// on a link that stayed in the namespace), and forget it if this plumber recorded it. A
    /// route the kernel already dropped with its link is fine.
    pub async fn delete_route(&self, netns: &NetnsRef, route: &RouteSpec) -> Result<(), StepError> {
        {
            let mut registry = lock(&self.inner.registry);
            // Another route to the same destination (on another link) stays recorded.
            if let Some(other) = registry.take_route(netns, &route.dst) {
                if other != *route {
                    registry.record_route(netns, other);
                }
            }
        }
        let request = Request::DelRoute {
            netns: netns.clone(),
            route: route.clone(),
        };
        match self.backend().execute(&request).await {
            Ok(_) => Ok(()),
            Err(e) if e.is(Errno::ESRCH) || e.is(Errno::ENODEV) || e.is(Errno::ENOENT) => Ok(()),
            Err(e) => Err(StepError::new(
                format!(
                    "failed to delete route {} via {} in namespace {netns}",
                    route.dst,
                    route
                        .gateway
                        .map_or_else(|| "-".to_string(), |g| g.to_string())
                ),
                Some(e),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::MockNetBackend;
    use crate::command::Reply;
    use crate::types::{RouteScope, Timestamp};
    use crate::BackendError;
    use crate::Op;
    use futures::executor::block_on;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    fn ready<T: Send + 'static>(value: T) -> Pin<Box<dyn Future<Output = T> + Send>> {
        Box::pin(std::future::ready(value))
    }

    fn plumber(b: MockNetBackend) -> Plumber<MockNetBackend> {
        Plumber::new(Arc::new(b), Arc::new(|_f| panic!("no background work")))
    }

    fn gateway_route() -> RouteSpec {
        RouteSpec {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("192.0.2.1".parse().unwrap()),
            oif: 7,
            scope: RouteScope::Universe,
        }
    }

    // SPEC: R1
    #[test]
    fn delete_link_deletes_that_link_and_a_gone_one_is_fine() {
        let mut b = MockNetBackend::new();
        b.expect_now().return_const(Timestamp::ZERO);
        let mut answers = vec![
            Err(BackendError::new(
                Op::DeleteLink,
                Errno::EBUSY,
                &NetnsRef::Host,
                "vnsp1",
            )),
            Err(BackendError::new(
                Op::DeleteLink,
                Errno::ENODEV,
                &NetnsRef::Host,
                "vnsp1",
            )),
            Ok(Reply::Done),
        ];
        let want = Request::DeleteLinks {
            netns: NetnsRef::Host,
            indices: vec![12],
        };
        b.expect_execute()
            .withf(move |request| *request == want)
            .times(3)
            .returning(move |_| ready(answers.pop().unwrap()));
        let p = plumber(b);
        assert_eq!(block_on(p.delete_link(&NetnsRef::Host, 12)), Ok(()));
        assert_eq!(block_on(p.delete_link(&NetnsRef::Host, 12)), Ok(()));
        let e = block_on(p.delete_link(&NetnsRef::Host, 12)).unwrap_err();
        assert!(
            e.to_string().contains("delete link 12 in namespace host"),
            "{e}"
        );
    }

    // SPEC: G4
    #[test]
    fn delete_route_deletes_exactly_that_route_and_one_already_gone_is_fine() {
        let ns = NetnsRef::path("/run/netns/ctr1");
        let mut b = MockNetBackend::new();
        b.expect_now().return_const(Timestamp::ZERO);
        let mut answers = vec![
            Err(BackendError::new(
                Op::DelRoute,
                Errno::EPERM,
                &NetnsRef::Host,
                "route",
            )),
            Err(BackendError::new(
                Op::DelRoute,
                Errno::ESRCH,
                &NetnsRef::Host,
                "route",
            )),
            Ok(Reply::Done),
        ];
        let want = Request::DelRoute {
            netns: ns.clone(),
            route: gateway_route(),
        };
        b.expect_execute()
            .withf(move |request| *request == want)
            .times(3)
            .returning(move |_| ready(answers.pop().unwrap()));
        let p = plumber(b);
        assert_eq!(block_on(p.delete_route(&ns, &gateway_route())), Ok(()));
        assert_eq!(block_on(p.delete_route(&ns, &gateway_route())), Ok(()));
        let e = block_on(p.delete_route(&ns, &gateway_route())).unwrap_err();
        assert!(
            e.to_string()
                .contains("delete route 0.0.0.0/0 via 192.0.2.1 in namespace /run/netns/ctr1"),
            "{e}"
        );
    }
}
