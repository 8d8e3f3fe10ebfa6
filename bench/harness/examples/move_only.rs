//! `move_link` alone, for `bench/move-phase.sh`: moves host links `{PREFIX}c{i}` into
//! namespaces `{PREFIX}x{i}` (renamed eth0), after `prepare_netns` of every namespace when
//! `PREPARE` is set, and prints the time per move.
use nsplumb_core::{BackendExt, NetBackend, NetnsRef};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let prefix = std::env::var("PREFIX").unwrap_or_else(|_| "mp".into());
    let prepare = std::env::var_os("PREPARE").is_some();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let b = nsplumb_linux::LinuxBackend::new().expect("netlink");
        let mut moves = Vec::new();
        for i in 0..n {
            let link = b
                .link_by_name(&NetnsRef::Host, &format!("{prefix}c{i}"))
                .await
                .expect("the script's host link");
            moves.push((
                link.index,
                NetnsRef::from_name_or_path(&format!("{prefix}x{i}")),
            ));
        }
        if prepare {
            for (_, to) in &moves {
                b.prepare_netns(to).await;
            }
        }
        let started = Instant::now();
        let mut each = Vec::new();
        for (index, to) in &moves {
            let t = Instant::now();
            b.move_link(&NetnsRef::Host, *index, to, "eth0")
                .await
                .expect("move");
            each.push(t.elapsed().as_secs_f64() * 1e3);
        }
        each.sort_by(f64::total_cmp);
        println!(
            "{:6.2} ms per move (median {:.2} ms)",
            started.elapsed().as_secs_f64() * 1e3 / n as f64,
            each[n / 2]
        );
    });
}
