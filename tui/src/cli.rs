//! Command-line arguments (clap derive). The names are fixed: scripts use them.

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendKind {
    /// The in-memory simulated kernel (default).
    #[default]
    Sim,
    /// The real Linux kernel (needs CAP_NET_ADMIN / CAP_SYS_ADMIN).
    Linux,
}

#[derive(Debug, Parser)]
#[command(
    name = "nsplumb",
    version,
    about = "Plumb network interfaces into Linux network namespaces and announce them"
)]
pub struct Cli {
    /// Which kernel to act on.
    #[arg(long, global = true, value_enum, default_value_t = BackendKind::Sim)]
    pub backend: BackendKind,
    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The terminal UI (the default).
    Tui,
    /// Create, delete or list named namespaces.
    Netns {
        #[command(subcommand)]
        action: NetnsAction,
    },
    /// Attach an interface to a namespace, configure it and announce it.
    Attach(Box<AttachArgs>),
    /// Detach an interface from a namespace and restore it.
    Detach(DetachArgs),
    /// Drop the record of an interface whose link vanished (SPEC D3), freeing its name.
    Forget(DetachArgs),
    /// List the links of one namespace or of every namespace.
    List(ListArgs),
    /// Show the 64-bit counters of the links of a namespace.
    Stats(StatsArgs),
    /// Render the TUI with 1,000 interfaces and print the frame time (median, p99).
    #[command(hide = true, name = "bench-tui")]
    BenchTui {
        #[arg(long, default_value_t = 1000)]
        interfaces: usize,
        #[arg(long, default_value_t = 200)]
        frames: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum NetnsAction {
    Add { name: String },
    Del { name: String },
    List,
}

#[derive(Debug, Args, Clone, Default)]
#[command(group(ArgGroup::new("src").required(true).args(["link", "veth_on_bridge"])))]
#[command(group(ArgGroup::new("dst").required(true).args(["name", "prefix"])))]
pub struct AttachArgs {
    /// The namespace: a name under /run/netns, a path, or `host`.
    #[arg(long)]
    pub netns: String,
    /// Source link name (in the host, or in the namespace with --created-in-netns, or the name
    /// of the bridge to create with --bridge).
    #[arg(long)]
    pub link: Option<String>,
    /// Create a veth pair: the container end in the namespace, the host end on BRIDGE.
    #[arg(long = "veth-on-bridge", value_name = "BRIDGE")]
    pub veth_on_bridge: Option<String>,
    /// Destination name.
    #[arg(long)]
    pub name: Option<String>,
    /// Destination name prefix: the lowest free PREFIXn is used.
    #[arg(long)]
    pub prefix: Option<String>,
    #[arg(long)]
    pub mac: Option<String>,
    #[arg(long, value_name = "CIDR")]
    pub ipv4: Option<String>,
    #[arg(long, value_name = "CIDR")]
    pub ipv6: Option<String>,
    #[arg(long = "link-local", value_name = "CIDR")]
    pub link_local: Vec<String>,
    #[arg(long, value_name = "CIDR")]
    pub route: Vec<String>,
    #[arg(long, value_name = "net.X.Y.IFNAME.Z=V")]
    pub sysctl: Vec<String>,
    /// Source name of a bridge attached (with --bridge) in the same namespace.
    #[arg(long, value_name = "SRC")]
    pub master: Option<String>,
    /// Create a bridge named by --link inside the namespace.
    #[arg(long, conflicts_with_all = ["created_in_netns", "veth_on_bridge"])]
    pub bridge: bool,
    /// The --link already lives in the namespace: no host lookup, no move.
    #[arg(long = "created-in-netns", conflicts_with = "veth_on_bridge")]
    pub created_in_netns: bool,
    /// Default route via this gateway, set after attach (one per family).
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,
    #[arg(long = "announce-count", value_name = "N")]
    pub announce_count: Option<u32>,
    #[arg(long = "announce-interval-ms", value_name = "MS")]
    pub announce_interval_ms: Option<u64>,
    /// MTU of the interface (and of the host end of a new veth), 68..=65535 (SPEC L1).
    #[arg(long, value_name = "N")]
    pub mtu: Option<u32>,
    /// Hairpin mode on the host end's bridge port (SPEC L2).
    #[arg(long)]
    pub hairpin: bool,
    /// Port isolation on the host end's bridge port (SPEC L4).
    #[arg(long)]
    pub isolated: bool,
    /// Untagged PVID on the host end's bridge port, 1..=4094 (SPEC L3).
    #[arg(long, value_name = "N")]
    pub vlan: Option<u16>,
    /// Tagged VLANs on the host end's bridge port: IDs and ranges, e.g. 10,20-30 (SPEC L3).
    #[arg(long = "vlan-trunk", value_name = "IDS", value_delimiter = ',')]
    pub vlan_trunk: Vec<String>,
    /// Keep the default VLAN 1 on the port (removed otherwise) (SPEC L3).
    #[arg(long = "keep-default-vlan")]
    pub keep_default_vlan: bool,
    /// Duplicate address detection for the IPv6 address; the attach waits for it (SPEC L5).
    #[arg(long)]
    pub dad: bool,
    /// How long to wait for DAD, 100..=30000 (default 3000) (SPEC L5).
    #[arg(long = "dad-timeout-ms", value_name = "MS")]
    pub dad_timeout_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct DetachArgs {
    #[arg(long)]
    pub netns: String,
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub netns: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long)]
    pub netns: String,
    #[arg(long)]
    pub name: Option<String>,
}
