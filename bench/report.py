#!/usr/bin/env python3
"""Turns one workload's runs from bench/run.sh into a markdown table (medians over the
repeats, ratios against MOP) and writes bench/results/<date>-<workload>.md."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import common  # noqa: E402  (bench/peers/common.py: the store's meta and byte counts)


def load(path):
    with open(path) as f:
        return json.load(f)


def store_bytes(store):
    """(train, val) bytes of the store as the workers hold it (common.split_nbytes)."""
    meta = common.read_meta(store)
    return tuple(common.split_nbytes(meta, sum(common.split_sizes(meta, kind)))
                 for kind in ("train", "val"))


def cerebro_row(run_dir, mem, strategy, store_train, store_val, workers):
    s = load(os.path.join(run_dir, "summary.json"))
    t = s["timing"]
    held = store_train + store_val  # every example once across the workers
    if strategy == "task":
        held *= workers  # a full copy per worker
    per_worker = max((v for k, v in mem["peak_rss_by_process"].items() if k.startswith("cerebro-worker")),
                     default=0)
    return dict(wall=mem["wall_seconds"], train_wall=t["wall_seconds"],
                sps=t["train_examples"] / mem["wall_seconds"],
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0,
                worker_rss=per_worker, held=held, moved=t["state_bytes_moved"],
                best=s["best"]["value"] if s["best"] else float("nan"))


def peer_row(result, mem):
    per = max(mem["peak_rss_by_process"].values(), default=0)
    return dict(wall=mem["wall_seconds"], train_wall=result["wall_seconds"],
                sps=result["train_samples"] / mem["wall_seconds"],
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0,
                worker_rss=per, held=result.get("data_bytes_held", 0),
                moved=result.get("bytes_moved_between_workers", 0),
                best=result["best"]["val_accuracy"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--systems", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--command", required=True)
    a = ap.parse_args()
    train_b, val_b = store_bytes(a.store)
    rows = {}
    for sys_name in a.systems.split():
        rows[sys_name] = []
        for r in range(1, a.repeats + 1):
            base = os.path.join(a.work, f"{a.workload}-{sys_name}-{r}")
            try:
                mem = load(base + ".mem.json")
                if sys_name in ("mop", "task", "dp", "sequential"):
                    rows[sys_name].append(cerebro_row(base, mem, sys_name, train_b, val_b, 2))
                else:
                    rows[sys_name].append(peer_row(load(base + ".json"), mem))
            except (OSError, KeyError, ValueError, TypeError) as e:
                print(f"report: {base}: {e}")
    med = lambda s, k: statistics.median(x[k] for x in rows[s]) if rows[s] else float("nan")
    ref = "mop"
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True,
                         text=True).stdout.strip()
    mb = lambda b: f"{b / 1e6:,.0f}"
    lines = [f"# Benchmark: {a.workload}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}. Date {datetime.date.today()}.",
             f"Command: `{a.command}`. Median of {a.repeats} interleaved runs per system; 2 parallel workers/trials/ranks "
             "(sequential and pytorch use one). Wall time includes start-up (data loading, worker/cluster start).",
             "",
             "| system | wall s | train samples/s | wall vs MOP | peak RSS of all processes MB | peak PSS MB | "
             "peak RSS one worker MB | data held MB | state moved MB | best val acc |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        if not rows[s]:
            lines.append(f"| {s} | failed | | | | | | | | |")
            continue
        ratio = med(s, "wall") / med(ref, "wall") if rows.get(ref) else float("nan")
        lines.append(f"| {s} | {med(s, 'wall'):.1f} | {med(s, 'sps'):,.0f} | {ratio:.2f}x | {mb(med(s, 'rss'))} | "
                     f"{mb(med(s, 'pss'))} | {mb(med(s, 'worker_rss'))} | {mb(med(s, 'held'))} | "
                     f"{mb(med(s, 'moved'))} | {med(s, 'best'):.4f} |")
    lines += ["", "Per-run wall seconds: " + "; ".join(
        f"{s} " + ", ".join(f"{x['wall']:.1f}" for x in rows[s]) for s in rows),
              "", "'wall vs MOP' > 1 means slower than MOP. 'data held' counts training + validation arrays "
              "held by the workers (task holds a copy per worker; every system keeps a uint8 store's features as "
              "bytes and decodes each batch; pytorch_ddp holds one copy split over its ranks; "
              "ray_tune as its script reports: one copy in the object store; ray_tune_load: one copy per trial "
              "alive at once, as measured from the trials' start and end times). 'state moved' is model state "
              "shipped between driver and workers (Cerebro); for pytorch_ddp it is the gradient all-reduce "
              "volume, counted as a ring all-reduce (2*(W-1)/W x gradient bytes sent per rank per step, summed "
              "over ranks and steps); Ray Tune trials never move."]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs("bench/results", exist_ok=True)
    path = f"bench/results/{datetime.date.today()}-{a.workload}.md"
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path)


if __name__ == "__main__":
    main()
