//! The simulated host: a bridge `br0` with 192.0.2.1/24 and fd00:1::1/64 in the host namespace,
//! container namespaces `ctr1..ctr3`, dummy host links `dummy0..dummy2`, virtual time paced by
//! the wall clock, and fault injection.

use nsplumb_core::BackendExt;
use nsplumb_core::{Errno, NetBackend, NetnsAdmin, NetnsRef, Op, Plumber, Timestamp};
use nsplumb_host::journal::{self, Entry};
use nsplumb_sim::{FaultHandle, Faulty, SimBackend};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type SimNet = Faulty<SimBackend>;

pub const HOST_BRIDGE: &str = "br0";
pub const CONTAINERS: [&str; 3] = ["ctr1", "ctr2", "ctr3"];
pub const DUMMIES: [&str; 3] = ["dummy0", "dummy1", "dummy2"];

#[derive(Clone)]
pub struct SimWorld {
    pub sim: SimBackend,
    pub faults: FaultHandle,
    pub backend: Arc<SimNet>,
    /// While set, the pacer jumps virtual time to the next deadline (journal replay).
    fast: Arc<AtomicBool>,
}

impl SimWorld {
    /// Build the simulated host. Deterministic: the same seed gives the same host.
    pub async fn new(seed: u64) -> Result<SimWorld, String> {
        let sim = SimBackend::new(seed);
        let (faulty, faults) = sim.with_faults(seed ^ 0x5eed);
        let backend = Arc::new(faulty);
        let world = SimWorld {
            sim,
            faults,
            backend,
            fast: Arc::new(AtomicBool::new(false)),
        };
        world
            .setup()
            .await
            .map_err(|e| format!("simulated host setup failed: {e}"))?;
        Ok(world)
    }

    async fn setup(&self) -> Result<(), nsplumb_core::BackendError> {
        let b = &self.sim;
        let host = NetnsRef::Host;
        if let Ok(lo) = b.link_by_name(&host, "lo").await {
            b.set_link_up(&host, lo.index).await?;
        }
        let br = b
            .create_bridge(&host, HOST_BRIDGE, Default::default())
            .await?;
        b.set_link_up(&host, br).await?;
        b.add_address(&host, br, "192.0.2.1/24".parse().unwrap(), false)
            .await?;
        b.add_address(&host, br, "fd00:1::1/64".parse().unwrap(), true)
            .await?;
        for d in DUMMIES {
            b.create_dummy(&host, d)?;
        }
        for c in CONTAINERS {
            let ns = b.create_netns(c).await?;
            if let Ok(lo) = b.link_by_name(&ns, "lo").await {
                b.set_link_up(&ns, lo.index).await?;
            }
        }
        Ok(())
    }

    /// Advance virtual time with the wall clock, every 2 ms, forever (a background task).
    pub fn spawn_pacer(&self) {
        let sim = self.sim.clone();
        let fast = self.fast.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let base = sim.now().as_nanos();
            let mut skew: u64 = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let wall = base + start.elapsed().as_nanos() as u64;
                let mut t = wall + skew;
                if fast.load(Ordering::Relaxed) {
                    if let Some(d) = sim.next_deadline() {
                        if d.as_nanos() > t {
                            skew += d.as_nanos() - t;
                            t = d.as_nanos();
                        }
                    }
                }
                sim.advance_to(Timestamp::from_nanos(t));
            }
        });
    }

    /// Replay the journal ([`journal::replay`]) on `plumber`, with virtual time jumping to
    /// each deadline meanwhile.
    pub async fn replay(&self, plumber: &Plumber<SimNet>, entries: &[Entry]) {
        self.fast.store(true, Ordering::Relaxed);
        journal::replay(plumber, entries).await;
        self.fast.store(false, Ordering::Relaxed);
    }

    /// Fail the next call of `op` with `errno` (TUI fault injection).
    pub fn inject(&self, op: Op, errno: Errno) {
        self.faults.fail_next(op, errno);
    }
}

/// The operation kinds offered for fault injection, with a sensible errno each.
pub const FAULT_MENU: &[(Op, Errno)] = &[
    (Op::MoveLink, Errno::EBUSY),
    (Op::RenameLink, Errno::EEXIST),
    (Op::SetLinkUp, Errno::EIO),
    (Op::SetMac, Errno::EADDRNOTAVAIL),
    (Op::AddAddress, Errno::EEXIST),
    (Op::AddRoute, Errno::EEXIST),
    (Op::WriteSysctl, Errno::EACCES),
    (Op::CreateVeth, Errno::ENOMEM),
    (Op::CreateBridge, Errno::EOPNOTSUPP),
    (Op::SendArp, Errno::ENETUNREACH),
    (Op::SendNa, Errno::EIO),
    (Op::DeleteLink, Errno::EBUSY),
    (Op::GetRoute, Errno::ENETUNREACH),
];
