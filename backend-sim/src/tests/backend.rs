use super::*;
use crate::{SimBackend, SimRuntime};
use futures::StreamExt;
use nsplumb_core::{BackendExt, Errno, LinkEvent, NetBackend, Op, PortState, Timestamp};
use std::time::Duration;

#[test]
fn errors_carry_op_errno_namespace_and_object() {
    let b = SimBackend::new(1);
    let mut rt = SimRuntime::new(b.clone());
    let e = rt.block_on({
        let b = b.clone();
        async move { b.set_link_up(&H, 42).await.unwrap_err() }
    });
    assert_eq!(
        (e.op, e.errno, e.netns.clone(), e.object.as_str()),
        (Op::SetLinkUp, Errno::ENODEV, H, "ifindex 42")
    );
    let e = rt.block_on({
        let b = b.clone();
        async move {
            b.read_sysctl(&H, "net/ipv4/conf/x/forwarding")
                .await
                .unwrap_err()
        }
    });
    assert_eq!(
        (e.op, e.errno, e.object.as_str()),
        (Op::ReadSysctl, Errno::ENOENT, "net/ipv4/conf/x/forwarding")
    );
    let e = rt.block_on({
        let b = b.clone();
        async move { b.rename_link(&H, 1, "a:b").await.unwrap_err() }
    });
    assert_eq!(e.object, "lo");
}

#[test]
fn sleep_until_and_runtime_jump_virtual_time() {
    let b = SimBackend::new(1);
    let mut rt = SimRuntime::new(b.clone());
    let t = rt.block_on({
        let b = b.clone();
        async move {
            b.sleep_until(Timestamp::from_nanos(5_000)).await;
            b.sleep_until(Timestamp::from_nanos(3_000)).await;
            b.now()
        }
    });
    assert_eq!(t, Timestamp::from_nanos(5_000));
    assert_eq!(b.next_deadline(), None);
}

#[test]
#[should_panic(expected = "deadlock")]
fn runtime_panics_on_deadlock() {
    let b = SimBackend::new(1);
    let mut rt = SimRuntime::new(b);
    rt.block_on(futures::future::pending::<()>());
}

// SPEC: A12
#[test]
fn subscriber_sees_forwarding_in_virtual_time() {
    let b = SimBackend::new(1);
    let br = b.kernel().create_bridge(&H, "br0").unwrap();
    b.set_stp(&H, br, true).unwrap();
    let (a, p) = veth(&mut b.kernel(), &H, "v0", &H, "v1");
    {
        let mut k = b.kernel();
        k.set_master(&H, a, Some(br)).unwrap();
        k.set_link_up(&H, a).unwrap();
        k.set_link_up(&H, p).unwrap();
    }
    let mut rt = SimRuntime::new(b.clone());
    let t = rt.block_on({
        let b = b.clone();
        async move {
            let mut ev = b.subscribe_links(&H).await.unwrap();
            b.set_link_up(&H, br).await.unwrap();
            while let Some(e) = ev.next().await {
                if let LinkEvent::Changed(l) = e {
                    if l.index == a && l.port_state == Some(PortState::Forwarding) {
                        break;
                    }
                }
            }
            b.now()
        }
    });
    assert_eq!(t, Timestamp::from_nanos(30_000_000_000));
}

// SPEC: A15
#[test]
fn faults_fail_without_side_effects_and_delay() {
    let b = SimBackend::new(1);
    let (f, h) = b.with_faults(7);
    let before = b.snapshot();
    h.fail_next(Op::CreateBridge, Errno::ENOMEM);
    h.fail_nth(Op::SetLinkUp, 2, Errno::EBUSY);
    h.delay(Op::CreateBridge, Duration::from_millis(10));
    let mut rt = SimRuntime::new(b.clone());
    let (r1, r2, up1, up2) = rt.block_on({
        let f = f.clone();
        async move {
            let r1 = f.create_bridge(&H, "br0", Default::default()).await;
            let r2 = f.create_bridge(&H, "br0", Default::default()).await;
            let up1 = f.set_link_up(&H, 1).await;
            let up2 = f.set_link_up(&H, 1).await;
            (r1, r2, up1, up2)
        }
    });
    let e = r1.unwrap_err();
    assert_eq!((e.op, e.errno), (Op::CreateBridge, Errno::ENOMEM));
    assert!(r2.is_ok());
    assert!(up1.is_ok());
    assert_eq!(up2.unwrap_err().errno, Errno::EBUSY);
    assert_eq!(h.injected(), 2);
    assert_eq!(b.now(), Timestamp::from_nanos(20_000_000));
    // A failed call left nothing behind.
    h.clear();
    h.fail_next(Op::MoveLink, Errno::EIO);
    let snap = b.snapshot();
    let e = rt.block_on({
        let f = f.clone();
        async move { f.move_link(&H, 1, &H, "x").await.unwrap_err() }
    });
    assert_eq!(e.errno, Errno::EIO);
    assert_eq!(b.snapshot(), snap);
    assert_ne!(snap, before);
    // Probabilistic faults are seeded.
    h.fail_with_probability(Op::GetLink, 0.5, Errno::EAGAIN);
    let fails = rt.block_on({
        let f = f.clone();
        async move {
            let mut n = 0;
            for _ in 0..200 {
                if f.link_by_index(&H, 1).await.is_err() {
                    n += 1;
                }
            }
            n
        }
    });
    assert!((60..140).contains(&fails), "{fails}");
}

#[test]
fn attach_detach_roundtrip_restores_snapshot() {
    // SPEC: A15 (the sim side: undoing each step gives back the same observable state)
    let b = SimBackend::new(1);
    let ns = b.kernel().create_netns("c").unwrap();
    let d = b.create_dummy(&H, "eth9").unwrap();
    let before = b.snapshot();
    let mut rt = SimRuntime::new(b.clone());
    rt.block_on({
        let b = b.clone();
        let ns = ns.clone();
        async move {
            let i = b.move_link(&H, d, &ns, "eth0").await.unwrap();
            b.add_address(&ns, i, net("192.0.2.5/24"), false)
                .await
                .unwrap();
            b.add_address(&ns, i, net("fd00::5/64"), true)
                .await
                .unwrap();
            b.set_link_up(&ns, i).await.unwrap();
            b.set_link_down(&ns, i).await.unwrap();
            let back = b.move_link(&ns, i, &H, "eth9").await.unwrap();
            assert_eq!(back, d);
        }
    });
    assert_eq!(b.snapshot(), before);
}

#[test]
fn run_for_lets_background_tasks_progress_in_virtual_time() {
    use std::cell::Cell;
    use std::rc::Rc;
    let b = SimBackend::new(1);
    let mut rt = SimRuntime::new(b.clone());
    let ticks = Rc::new(Cell::new(0u32));
    let t2 = ticks.clone();
    let b2 = b.clone();
    rt.spawn(async move {
        for i in 1..=5u64 {
            b2.sleep_until(Timestamp::from_nanos(i * 1_000_000_000))
                .await;
            t2.set(t2.get() + 1);
        }
    });
    rt.run_for(Duration::from_millis(2500));
    assert_eq!(ticks.get(), 2);
    assert_eq!(b.now(), Timestamp::from_nanos(2_500_000_000));
    rt.run_until(Timestamp::from_nanos(10_000_000_000));
    assert_eq!(ticks.get(), 5);
}
