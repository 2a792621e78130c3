#!/usr/bin/env python3
"""Runs a command and samples the memory of its whole process tree.

  bench/peers/peak_rss.py [--out FILE] [--interval 0.1] [--pss-interval 0.5] -- CMD ARGS...

Every --interval seconds it reads /proc/PID/stat of every process (for the ppid links),
keeps the descendants of the command and sums their resident set sizes; every
--pss-interval seconds it also reads /proc/PID/smaps_rollup of those descendants for PSS
(shared pages divided among the processes that map them, so a shared-memory object store
or a shared library is counted once in the sum) and USS (private pages only). The sampler
makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so a daemonised grandchild (Ray's
raylet, GCS, log monitor, workers) that loses its parent is re-parented to the sampler and
stays in the tree.

What it costs is the same for every system (issue 15): membership is the process tree of
the root pid only (ppid links from the stat files every sample: the same scan whatever
runs), and a process's command line is read once when it joins the tree, again only when
its comm changes (Ray workers retitle themselves) or its peak grows, at most once a second
(`cmdline_reads` counts them). It never reads other processes' command lines while the
command runs: a Ray session directory named by a member's command line is checked once,
after the command exited, for processes outside the tree (`escaped_processes`; with
--kill-leftovers they are stopped too). Its own CPU time over the run (utime + stime, as
/proc/self/stat counts it) is `sampler_cpu_seconds`.

At exit it prints one JSON object (and writes it to --out):
  {command, wall_seconds, exit_code, samples, peak_tree_rss_bytes, peak_tree_pss_bytes,
   peak_tree_uss_bytes, peak_rss_by_process: {"name/pid": bytes}, peak_pss_by_process,
   max_processes, leftover_processes: [...], escaped_processes: [...],
   sampler_cpu_seconds, cmdline_reads}
peak_tree_* is the peak of the per-sample sum (not the sum of per-process peaks). RSS
double-counts pages shared between processes (the object store's shared memory, torch's
libraries); PSS does not. leftover_processes lists descendants still alive after the
command exited (waited for up to --linger seconds; with --kill-leftovers they are sent
SIGTERM, then SIGKILL); outlived_command lists every descendant alive when the command
exited. Exits with the command's exit code.
"""
import argparse
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36
SESSION_RE = re.compile(r"/tmp/ray/session_[0-9_\-]+")


def read_stat(pid):
    """(comm, ppid, rss_bytes) or None."""
    # os.open/os.read and bytes: the sampler reads every process's stat file every sample,
    # so this is most of its own CPU.
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
    except OSError:
        return None
    lp, rp = data.find(b"("), data.rfind(b")")
    fields = data[rp + 2:].split()
    # fields[0] is state (field 3); ppid is field 4, rss (pages) is field 24.
    try:
        return data[lp + 1:rp].decode(errors="replace"), int(fields[1]), int(fields[21]) * PAGE
    except (IndexError, ValueError):
        return None


def read_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def read_rollup(pid):
    """(pss_bytes, uss_bytes) from smaps_rollup, or None."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            text = f.read()
    except OSError:
        return None
    vals = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            vals[parts[0][:-1]] = int(parts[1]) * 1024
    pss = vals.get("Pss")
    if pss is None:
        return None
    return pss, vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def proc_name(cmd, comm):
    if not cmd:
        return comm
    first = cmd.split()[0]
    # Ray workers retitle themselves ("ray::IDLE", "ray::ImplicitFunc.train").
    if first.startswith("ray::"):
        return first
    base = os.path.basename(first)
    # A process that renamed itself (prctl PR_SET_NAME: Cerebro's forked workers keep the
    # driver's command line but call themselves "cerebro-worker") goes by that name.
    if comm and comm != base[:15]:
        return comm
    if base.startswith("python"):
        # The script (or -c/-m) rather than the interpreter: "python:raylet_agent.py".
        for arg in cmd.split()[1:]:
            if arg in ("-c", "-m") or not arg.startswith("-"):
                return f"{base}:{os.path.basename(arg)}"
    return base


def self_cpu_seconds():
    """utime + stime of this process, all its threads (what /proc/self/stat fields 14
    and 15 count, read at nanosecond rather than clock-tick resolution)."""
    return time.process_time()


NAME_REFRESH_SECONDS = 1.0  # at most one command-line read a second per process


class Sampler:
    def __init__(self, root, me):
        self.root = root
        self.me = me
        self.session_dirs = set()
        self.peak_tree_rss = 0
        self.peak_tree_pss = 0
        self.peak_tree_uss = 0
        self.peak_rss = {}   # pid -> bytes
        self.peak_pss = {}
        self.names = {}      # pid -> last name seen
        self.comms = {}      # pid -> comm when the name was read
        self.named_at = {}   # pid -> monotonic time of the last command-line read
        self.max_procs = 0
        self.samples = 0
        self.cmdline_reads = 0

    def cmdline(self, pid):
        self.cmdline_reads += 1
        return read_cmdline(pid)

    def tree(self):
        """Descendants of the root command (and, as subreaper, of the sampler itself):
        ppid links from every stat file, no command lines."""
        stats = {}
        children = {}
        for pid in all_pids():
            st = read_stat(pid)
            if st is None:
                continue
            stats[pid] = st
            children.setdefault(st[1], []).append(pid)
        members = set()
        stack = [self.root] + [c for c in children.get(self.me, []) if c != self.root]
        while stack:
            pid = stack.pop()
            if pid in members or pid not in stats:
                continue
            members.add(pid)
            stack.extend(children.get(pid, []))
        return members, stats

    def name(self, pid, comm, grew):
        """Names a member from its command line: when it joins, when its comm changes,
        or when its peak grew (the name at the peak), at most once a second."""
        now = time.monotonic()
        if pid in self.names and self.comms.get(pid) == comm and not (
                grew and now - self.named_at[pid] >= NAME_REFRESH_SECONDS):
            return
        cmd = self.cmdline(pid)
        if pid not in self.names:  # a Ray session directory, learned once per process
            m = SESSION_RE.search(cmd)
            if m:
                self.session_dirs.add(m.group(0))
        self.names[pid] = proc_name(cmd, comm)
        self.comms[pid] = comm
        self.named_at[pid] = now

    def sample(self, with_pss):
        members, stats = self.tree()
        total_rss = total_pss = total_uss = 0
        for pid in members:
            comm, _, rss = stats[pid]
            self.name(pid, comm, rss > self.peak_rss.get(pid, 0))
            total_rss += rss
            self.peak_rss[pid] = max(self.peak_rss.get(pid, 0), rss)
            if with_pss:
                r = read_rollup(pid)
                if r is not None:
                    total_pss += r[0]
                    total_uss += r[1]
                    self.peak_pss[pid] = max(self.peak_pss.get(pid, 0), r[0])
        self.samples += 1
        self.max_procs = max(self.max_procs, len(members))
        self.peak_tree_rss = max(self.peak_tree_rss, total_rss)
        if with_pss:
            self.peak_tree_pss = max(self.peak_tree_pss, total_pss)
            self.peak_tree_uss = max(self.peak_tree_uss, total_uss)
        return members

    def escaped(self, members):
        """Processes outside the tree whose command line names a member's Ray session
        directory (one scan, after the command exited)."""
        if not self.session_dirs:
            return []
        out = []
        for pid in all_pids():
            if pid in members or pid == self.me:
                continue
            cmd = self.cmdline(pid)
            if any(d in cmd for d in self.session_dirs):
                out.append(pid)
        return out


def reap_orphans():
    """Reap adopted zombies (we are a subreaper) without touching the main child."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: peak_rss.py [--out FILE] [--interval S] [--pss-interval S] -- CMD ARGS...")
    split = argv.index("--")
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--interval", type=float, default=0.1)
    ap.add_argument("--pss-interval", type=float, default=0.5,
                    help="seconds between PSS/USS samples (0: never)")
    ap.add_argument("--linger", type=float, default=5.0,
                    help="seconds to wait for descendants that outlive the command")
    ap.add_argument("--kill-leftovers", action="store_true")
    opts = ap.parse_args(argv[:split])
    cmd = argv[split + 1:]
    if not cmd:
        sys.exit("peak_rss.py: no command")

    libc = ctypes.CDLL(None, use_errno=True)
    subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0

    cpu0 = self_cpu_seconds()
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    # Forward Ctrl-C / TERM to the command.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda s, f: child.send_signal(s))
    sampler = Sampler(child.pid, os.getpid())
    next_pss = 0.0
    exit_code = None
    while exit_code is None:
        now = time.monotonic()
        with_pss = opts.pss_interval > 0 and now >= next_pss
        if with_pss:
            next_pss = now + opts.pss_interval
        sampler.sample(with_pss)
        exit_code = child.poll()
        if exit_code is None:
            time.sleep(opts.interval)
    wall = time.monotonic() - t0
    cpu_run = self_cpu_seconds() - cpu0
    reads_run = sampler.cmdline_reads

    # Descendants that outlive the command (adopted by us as subreaper).
    t_exit = time.monotonic()
    deadline = t_exit + opts.linger
    leftovers = set()
    outlived = {}
    while True:
        reap_orphans()
        members = sampler.sample(opts.pss_interval > 0) - {child.pid}
        leftovers = {p for p in members if read_stat(p) is not None}
        for p in leftovers:
            outlived.setdefault(p, sampler.names.get(p, ""))
        if not leftovers or time.monotonic() >= deadline:
            break
        time.sleep(opts.interval)
    linger = time.monotonic() - t_exit
    # A process of the command's Ray session outside the tree (the subreaper should make
    # this impossible): reported, and stopped with the leftovers.
    escaped = sampler.escaped(members | {child.pid})
    esc = [{"pid": p, "cmdline": read_cmdline(p)[:200]} for p in escaped]
    left = [{"pid": p, "name": sampler.names.get(p, ""), "cmdline": read_cmdline(p)[:200]}
            for p in sorted(leftovers)]
    if (leftovers or escaped) and opts.kill_leftovers:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in sorted(leftovers) + escaped:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            time.sleep(1.0)
            reap_orphans()

    def by_name(peaks):
        return {f"{sampler.names.get(p, '?')}/{p}": b
                for p, b in sorted(peaks.items(), key=lambda kv: -kv[1])}

    result = {
        "command": cmd,
        "wall_seconds": wall,
        "exit_code": exit_code,
        "samples": sampler.samples,
        "interval_seconds": opts.interval,
        "pss_interval_seconds": opts.pss_interval,
        "peak_tree_rss_bytes": sampler.peak_tree_rss,
        "peak_tree_pss_bytes": sampler.peak_tree_pss or None,
        "peak_tree_uss_bytes": sampler.peak_tree_uss or None,
        "peak_rss_by_process": by_name(sampler.peak_rss),
        "peak_pss_by_process": by_name(sampler.peak_pss),
        "max_processes": sampler.max_procs,
        "subreaper": subreaper,
        "ray_session_dirs": sorted(sampler.session_dirs),
        # Descendants still alive when the command exited, and how long until all were
        # gone (capped by --linger); leftover_processes: those still alive after that.
        "outlived_command": [f"{n}/{p}" for p, n in sorted(outlived.items())],
        "outlived_seconds": linger if outlived else 0.0,
        "leftover_processes": left,
        "leftovers_killed": bool((leftovers or escaped) and opts.kill_leftovers),
        "escaped_processes": esc,
        # The sampler's own cost while the command ran (issue 15): its CPU seconds
        # (utime + stime) and the command lines it read; the same work for every system
        # but the per-member reads (stat, smaps_rollup) of a larger tree.
        "sampler_cpu_seconds": cpu_run,
        "sampler_cpu_seconds_with_linger": self_cpu_seconds() - cpu0,
        "cmdline_reads": reads_run,
    }
    text = json.dumps(result, indent=2)
    if opts.out:
        with open(opts.out, "w") as f:
            f.write(text + "\n")
    print(text, file=sys.stderr)
    sys.exit(exit_code if exit_code >= 0 else 128 - exit_code)


if __name__ == "__main__":
    main()
