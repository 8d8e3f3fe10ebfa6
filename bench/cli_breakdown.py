#!/usr/bin/env python3
"""Summarise bench/cli-breakdown.sh's strace and perf outputs: a markdown table of medians.

Usage: cli_breakdown.py OUTDIR REPS   (files OUTDIR/{attach,detach}.I.{strace,perf})

Phases (wall, from strace -f -ttt -T; strace inflates every syscall, compare builds only):
see the header of cli-breakdown.sh. Inside the command body, overlapping activity is charged
once, to the first of: ns hop, netlink, state, other.
"""
import re
import statistics
import sys
from collections import Counter

LINE = re.compile(r"^(?:(\d+)\s+)?(\d+\.\d+) (.*)$")
CALL = re.compile(r"^(\w+)\((.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
DUR = re.compile(r"<(\d+\.\d+)>\s*$")
RET = re.compile(r"\)\s+=\s+(-?\d+)")
STATE_DIR = "/run/nsplumb-breakdown"


def events(path):
    """(pid, start, name, text, duration) per syscall, unfinished/resumed pairs joined."""
    pending, out, exits = {}, [], {}
    for raw in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        # strace prints no pid while only one thread is traced: 0, the main thread, below.
        pid, ts, rest = int(m.group(1) or 0), float(m.group(2)), m.group(3)
        if rest.startswith("+++ exited") or rest.startswith("+++ killed"):
            exits[pid] = ts
            continue
        if rest.startswith("---"):
            continue
        r = RESUMED.match(rest)
        if r:
            if pid in pending:
                start, name, head = pending.pop(pid)
                text = head + r.group(2)
                d = DUR.search(text)
                out.append((pid, start, name, text, float(d.group(1)) if d else ts - start))
            continue
        c = CALL.match(rest)
        if not c:
            continue
        name = c.group(1)
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, name, rest[: -len("<unfinished ...>")])
            continue
        d = DUR.search(rest)
        out.append((pid, ts, name, rest, float(d.group(1)) if d else 0.0))
    children = {ret_of(e[3]) for e in out if e[2] in ("clone", "clone3")}
    main = next((e[0] for e in out if e[0] and e[0] not in children), 0)
    out = [(e[0] or main,) + e[1:] for e in out]
    exits = {(pid or main): ts for pid, ts in exits.items()}
    out.sort(key=lambda e: e[1])
    return out, exits


def fd_of(text):
    m = re.match(r"\w+\((\d+),", text)
    return int(m.group(1)) if m else None


def ret_of(text):
    m = RET.search(text)
    return int(m.group(1)) if m else None


def analyse(path):
    evs, exits = events(path)
    main = evs[0][0]
    t_exec = evs[0][1]
    first = lambda pred, after=0.0: next((e for e in evs if e[1] >= after and pred(e)), None)
    t_std = first(lambda e: e[0] == main and e[2] == "poll")[1]
    t_rt = first(lambda e: e[2] == "epoll_create1")[1]
    cmd = first(
        lambda e: "/proc/self/ns/net" in e[3] or STATE_DIR in e[3] or "/run/netns/" in e[3],
        t_rt,
    )
    t_cmd = cmd[1]
    t_exit = exits.get(main, evs[-1][1] + evs[-1][4])

    counts = Counter()
    intervals = {"ns hops": [], "netlink": [], "state": []}
    state_fds, nl_fds = set(), set()
    hop_tids, clone_at = set(), {}
    nl_open = {}  # fd -> (send start, last answer end)
    t_end = t_cmd
    for pid, ts, name, text, dur in evs:
        end = ts + dur
        counts["syscalls"] += 1
        if name in ("clone", "clone3"):
            counts["threads created (clone)"] += 1
            child = ret_of(text)
            if child:
                clone_at[child] = ts
        if name == "setns" or ('PR_SET_NAME, "nsplumb-netns"' in text):
            if pid not in hop_tids:
                hop_tids.add(pid)
            if name == "setns":
                counts["setns"] += 1
        if name in ("fsync", "fdatasync"):
            counts["fsync/fdatasync"] += 1
        if name in ("openat", "statx", "newfstatat") and "/run/netns/" in text:
            counts[f"{name} of /run/netns/*"] += 1
            intervals["ns hops"].append((ts, end))
            t_end = max(t_end, end)
        if name == "openat" and re.search(r'"/proc/(self|\d+)/stat"', text):
            counts["reads of /proc/PID/stat"] += 1
        fd = fd_of(text)
        is_state = STATE_DIR in text or name in ("flock", "fsync", "fdatasync") or (
            fd in state_fds and name in ("read", "write", "close", "statx", "newfstatat")
        )
        if name == "openat" and STATE_DIR in text:
            r = ret_of(text)
            if r is not None and r >= 0:
                state_fds.add(r)
        if name == "close" and fd in state_fds:
            state_fds.discard(fd)
        if is_state:
            intervals["state"].append((ts, end))
            t_end = max(t_end, end)
        if name == "sendto" and "nlmsg_len" in text:
            counts["netlink sendto"] += 1
            nl_fds.add(fd)
            if fd in nl_open:
                intervals["netlink"].append(nl_open[fd])
            nl_open[fd] = (ts, end)
            t_end = max(t_end, end)
        if name == "recvfrom" and fd in nl_fds and "EAGAIN" not in text:
            counts["netlink recvfrom"] += 1
            if fd in nl_open:
                nl_open[fd] = (nl_open[fd][0], end)
            t_end = max(t_end, end)
        if name == "write" and fd == 1:
            t_end = max(t_end, end)
    intervals["netlink"].extend(nl_open.values())
    # A hop: the clone of a namespace thread until it hands its result back (its teardown).
    for tid in hop_tids:
        start = clone_at.get(tid)
        stop = next(
            (e[1] for e in evs if e[0] == tid and e[2] in ("sigaltstack", "madvise", "exit")
             and ("SS_DISABLE" in e[3] or e[2] != "sigaltstack")),
            exits.get(tid),
        )
        if start is not None and stop is not None:
            intervals["ns hops"].append((start, stop))
            t_end = max(t_end, stop)
    counts["namespace threads"] = len(hop_tids)

    # Charge each instant of the body once, by priority.
    order = ["ns hops", "netlink", "state"]
    cuts = sorted({t_cmd, t_end} | {x for v in intervals.values() for iv in v for x in iv
                                    if t_cmd <= x <= t_end})
    body = Counter()
    for a, b in zip(cuts, cuts[1:]):
        mid = (a + b) / 2
        cat = next((c for c in order if any(s <= mid < e for s, e in intervals[c])), "other")
        body[cat] += b - a
    ms = lambda s: s * 1000.0
    phases = {
        "exec + dynamic loading": ms(t_std - t_exec),
        "std init + argument parsing + logging": ms(t_rt - t_std),
        "runtime start (+ backend open)": ms(t_cmd - t_rt),
        "state lock, reads, writes, fsyncs": ms(body["state"]),
        "namespace entry (hops, ns file opens)": ms(body["ns hops"]),
        "netlink requests": ms(body["netlink"]),
        "other (user code, task wake-ups)": ms(body["other"]),
        "exit": ms(t_exit - t_end),
        "total (under strace)": ms(t_exit - t_exec),
    }
    return phases, counts


def perf(path):
    out = {}
    for line in open(path, encoding="utf-8"):
        parts = line.strip().split(",")
        if len(parts) < 3 or line.startswith("#"):
            continue
        value, event = parts[0], parts[2]
        try:
            out[event] = float(value)
        except ValueError:
            out[event] = None
    return out


def main():
    outdir, reps = sys.argv[1], int(sys.argv[2])
    table, rows = {}, []
    for op in ("attach", "detach"):
        phases = [analyse(f"{outdir}/{op}.{i}.strace") for i in range(1, reps + 1)]
        perfs = [perf(f"{outdir}/{op}.{i}.perf") for i in range(1, reps + 1)]
        col = {}
        for key in phases[0][0]:
            col[("wall ms (strace)", key)] = statistics.median(p[0][key] for p in phases)
        keys = sorted({k for p in phases for k in p[1]})
        for key in keys:
            col[("count", key)] = statistics.median(p[1].get(key, 0) for p in phases)
        for ev, label in (("task-clock", "CPU time, ms (task-clock)"),
                          ("context-switches", "context switches"),
                          ("cpu-migrations", "CPU migrations"),
                          ("page-faults", "page faults"),
                          ("instructions", "instructions")):
            vals = [p.get(ev) for p in perfs]
            vals = [v for v in vals if v is not None]
            col[("perf", label)] = statistics.median(vals) if vals else None
        table[op] = col
        for k in col:
            if k not in rows:
                rows.append(k)
    print(f"| {'figure':<48} | attach | detach |")
    print(f"|{'-' * 50}|-------:|-------:|")
    for kind, key in rows:
        cells = []
        for op in ("attach", "detach"):
            v = table[op].get((kind, key))
            if v is None:
                cells.append("n/a")
            elif kind == "count":
                cells.append(f"{v:g}")
            else:
                cells.append(f"{v:.2f}" if kind.startswith("wall") or "ms" in key else f"{v:g}")
        print(f"| {kind + ': ' + key:<48} | {cells[0]} | {cells[1]} |")
    print(f"\n(medians of {reps} runs each; wall phases under strace -f, inflated; "
          "perf figures without strace)")


if __name__ == "__main__":
    main()
