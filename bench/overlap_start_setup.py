#!/usr/bin/env python3
"""The set-up phase of a run, replayed with the real binaries, before vs after issue 13
item 2 (workers start while the data is prepared): `cerebro prepare SPEC` makes the store,
and W cerebro-worker processes come up and load their partitions over the driver's wire
protocol (exec/wire.h). before: prepare, then spawn the workers with --store and wait until
each is ready (what RunLoop did). after: spawn the workers without a store (they load
LibTorch and pick their BLAS), prepare meanwhile, then send each a LoadFrame and wait
(what RunLoop does now). Reports the medians of REPEATS interleaved rounds. A stand-in for
the whole-process measurement of bench/overlap_start.sh when no driver binary of both
versions is at hand; `cerebro prepare` is a process of its own here (it loads LibTorch
too), where the run prepares inside the driver.

usage: bench/overlap_start_setup.py --cerebro BIN --worker WORKER [--spec SPEC] [--workers 2]
       [--repeats 3]   (under `flock /tmp/bench.lock`)
"""
import argparse, os, socket, statistics, struct, subprocess, sys, tempfile, time


def frame(sock):
    head = b""
    while len(head) < 8:
        got = sock.recv(8 - len(head))
        if not got:
            raise RuntimeError("worker closed its socket")
        head += got
    (n,) = struct.unpack("<Q", head)
    body = b""
    while len(body) < n:
        got = sock.recv(n - len(body))
        if not got:
            raise RuntimeError("worker closed its socket")
        body += got
    return body


def send(sock, payload):
    sock.sendall(struct.pack("<Q", len(payload)) + payload)


def ready_ok(payload):
    return payload[0] == 1 and payload[1] == 1  # FrameType::kReady, ok


def spawn(worker, store, partition):
    ours, theirs = socket.socketpair()
    args = [worker, "--fd", "3", "--threads", "1"]
    if store:
        args += ["--store", store, "--train-partition", str(partition), "--val-partition", str(partition)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    fd = theirs.fileno()
    p = subprocess.Popen(args, pass_fds=(fd, 3), env=env,
                         preexec_fn=lambda: os.dup2(fd, 3))
    theirs.close()
    return p, ours


def quit_all(procs):
    for p, s in procs:
        try:
            send(s, bytes([4]))  # QuitFrame
        except OSError:
            pass
        s.close()
        p.wait()


def prepare(cerebro, spec, out, workers):
    subprocess.run([cerebro, "prepare", spec, "--out", out, "--partitions", str(workers), "--quiet"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, CEREBRO_CACHE="off"))


def before(a, work):
    t0 = time.monotonic()
    store = os.path.join(work, "store")
    prepare(a.cerebro, a.spec, store, a.workers)
    t_prep = time.monotonic() - t0
    procs = [spawn(a.worker, store, i) for i in range(a.workers)]
    for _, s in procs:
        if not ready_ok(frame(s)):
            sys.exit("before: a worker did not load its partitions")
    total = time.monotonic() - t0
    quit_all(procs)
    return total, t_prep


def after(a, work):
    t0 = time.monotonic()
    procs = [spawn(a.worker, "", i) for i in range(a.workers)]
    store = os.path.join(work, "store")
    prepare(a.cerebro, a.spec, store, a.workers)
    t_prep = time.monotonic() - t0
    for i, (_, s) in enumerate(procs):
        if not ready_ok(frame(s)):
            sys.exit("after: a worker did not come up")
        b = store.encode()
        send(s, bytes([5]) + struct.pack("<Q", len(b)) + b + struct.pack("<qq", i, i))  # LoadFrame
    for _, s in procs:
        if not ready_ok(frame(s)):
            sys.exit("after: a worker did not load its partitions")
    total = time.monotonic() - t0
    quit_all(procs)
    return total, t_prep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cerebro", required=True)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--spec", default="examples/fashion_mnist/mlp_grid.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    rows = {"before": [], "after": []}
    for _ in range(a.repeats):
        for name, fn in (("before", before), ("after", after)):
            with tempfile.TemporaryDirectory(prefix="cerebro-setup-") as work:
                rows[name].append(fn(a, work))
    for name in ("before", "after"):
        tot = statistics.median(x[0] for x in rows[name])
        prep = statistics.median(x[1] for x in rows[name])
        runs = ", ".join(f"{x[0]:.2f}" for x in rows[name])
        print(f"{name}: set-up {tot:.2f} s median (runs {runs}); preparation alone {prep:.2f} s")
    saved = statistics.median(x[0] for x in rows["before"]) - statistics.median(x[0] for x in rows["after"])
    print(f"saved: {saved:.2f} s")


if __name__ == "__main__":
    main()
