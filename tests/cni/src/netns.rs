//! Named network namespaces (`ip netns`) standing in for containers when a plugin is driven
//! directly; they live in the test's private `/run/netns` and are deleted on drop.

use std::path::PathBuf;

use crate::command::{Cmd, Finished};
use crate::error::Result;

/// A network namespace `/run/netns/<name>`, deleted when dropped.
#[derive(Debug)]
pub struct NamedNetns {
    name: String,
    deleted: bool,
}

impl NamedNetns {
    pub fn add(name: &str) -> Result<NamedNetns> {
        Cmd::new(format!("create netns {name}"), "ip")
            .args(["netns", "add", name])
            .ok()?;
        Ok(NamedNetns {
            name: name.into(),
            deleted: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The path runtimes pass as `CNI_NETNS`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// Run `args` inside the namespace (`ip netns exec`).
    pub fn exec(&self, args: &[&str]) -> Result<Finished> {
        Cmd::new(format!("in netns {}: {}", self.name, args.join(" ")), "ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .run()
    }

    /// Delete it now (a runtime whose container is gone before DEL).
    pub fn delete(&mut self) -> Result<()> {
        self.deleted = true;
        Cmd::new(format!("delete netns {}", self.name), "ip")
            .args(["netns", "del", &self.name])
            .ok()
            .map(drop)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        if !self.deleted {
            let _ = self.delete();
        }
    }
}
