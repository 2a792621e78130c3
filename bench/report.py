#!/usr/bin/env python3
"""Turns one workload's runs from bench/run.sh into a markdown table (medians over the
repeats, ratios against MOP) and writes bench/results/<date>-<workload>.md.

What every column means is the same for every system (issue 15, items 11-15):
  prep s        preparing the partitioned store from the .gz files. Cerebro: its run's own
                record (summary.json timing.prepare_seconds: reading and partitioning the
                data, hashing the store, starting the workers), measured inside the timed
                `cerebro run`. Peers: the wall of that repetition's `cerebro prepare` of the
                store they load, measured by peak_rss.py like every run.
  wall s        from the .gz files to results: Cerebro's process wall (it prepares inside);
                a peer's process wall plus its prep s. Without Ray Tune's exit wait.
  wall without prep s   wall s minus prep s.
  exit wait s   the Ray Tune runner's wait for Ray's processes to exit after ray.shutdown()
                (capped at 15 s): a check of the harness, reported, kept out of both walls.
  wall vs MOP   wall s / MOP's wall s (so: preparation included for everyone).
  val acc, last epoch   the best model's accuracy at its last epoch (max over models of
                the last history entry), from every system's per-epoch histories.
  val acc, best epoch   max over models and epochs.
  sampler CPU s the memory sampler's own CPU seconds while the run ran (peak_rss.py), and
                per sample (every 0.1 s).
The run seed and epochs every system used are checked against the spec's, and every
timed Cerebro run and store preparation must have prepared from the source files (not
linked a cached store); a mismatch is an error (the report still prints, then exits 1).
"""
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

CEREBRO_SYSTEMS = ("mop", "task", "dp", "sequential")


def load(path):
    with open(path) as f:
        return json.load(f)


def read_spec(path):
    """(seed, epochs, workers) of a spec's run section."""
    import yaml
    with open(path) as f:
        run = yaml.safe_load(f)["run"]
    return int(run["seed"]), int(run["epochs"]), int(run["workers"])


def store_bytes(store):
    """(train, val) bytes of the store as the workers hold it (common.split_nbytes)."""
    meta = common.read_meta(store)
    return tuple(common.split_nbytes(meta, sum(common.split_sizes(meta, kind)))
                 for kind in ("train", "val"))


def accuracies(histories):
    """(last, best): the best model's val accuracy at its last epoch, and the best over all
    models and epochs. One definition for every system (item 13)."""
    histories = [h for h in histories if h]
    if not histories:
        return float("nan"), float("nan")
    last = max(h[-1]["val_accuracy"] for h in histories)
    best = max(e["val_accuracy"] for h in histories for e in h)
    return last, best


def check_run(what, seed, epochs, spec_seed, spec_epochs):
    if seed != spec_seed:
        raise ValueError(f"{what} ran with seed {seed}, the spec says {spec_seed}")
    if epochs != spec_epochs:
        raise ValueError(f"{what} ran {epochs} epochs, the spec says {spec_epochs}")


REUSED = "reused prepared store"  # data/store_cache.h PreparedStore::Describe()


def check_prepared(log_path):
    """A timed run or prepare must have prepared its store from the .gz files: its log
    (what Cerebro prints: "data: prepared store KEY (2.3 s)" or "data: reused prepared
    store KEY (0.0 s)") must not say that it linked one from a store cache."""
    try:
        with open(log_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return  # no log: nothing says it reused
    if REUSED in text:
        raise ValueError(f"{log_path}: {REUSED}: the store came from a cache, not from the "
                         "source files (run.sh gives every timed run a fresh CEREBRO_CACHE)")


def sampler_cpu(mem):
    return mem.get("sampler_cpu_seconds", float("nan"))


def sampler_ms_per_sample(mem):
    """The sampler's CPU per sample: what has to be equal for every system."""
    n = mem.get("samples")
    return 1e3 * sampler_cpu(mem) / n if n else float("nan")


def cerebro_row(run_dir, mem, strategy, store_train, store_val, workers, spec_seed, spec_epochs):
    s = load(os.path.join(run_dir, "summary.json"))
    check_prepared(run_dir + ".log")
    check_run(f"{run_dir} (cerebro {strategy})", s["seed"], s["epochs"], spec_seed, spec_epochs)
    t = s["timing"]
    held = store_train + store_val  # every example once across the workers
    if strategy == "task":
        held *= workers  # a full copy per worker
    per_worker = max((v for k, v in mem["peak_rss_by_process"].items() if k.startswith("cerebro-worker")),
                     default=0)
    wall = mem["wall_seconds"]  # the run prepares inside its timed process
    prep = t["prepare_seconds"]
    last, best = accuracies([m.get("history", []) for m in s["models"]])
    return dict(prep=prep, wall=wall, wall_no_prep=wall - prep, exit_wait=0.0,
                sps=t["train_examples"] / wall,
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0,
                worker_rss=per_worker, held=held, moved=t["state_bytes_moved"],
                acc_last=last, acc_best=best, sampler_cpu=sampler_cpu(mem),
                sampler_ms=sampler_ms_per_sample(mem))


def peer_row(base, result, mem, prep_mem, spec_seed, spec_epochs):
    check_run(f"{base}.json ({result.get('system')})", result["seed"], result["epochs"],
              spec_seed, spec_epochs)
    per = max(mem["peak_rss_by_process"].values(), default=0)
    exit_wait = result.get("exit_wait_seconds", 0.0)
    prep = prep_mem["wall_seconds"]  # the store it loads, prepared before its timed run
    wall_no_prep = mem["wall_seconds"] - exit_wait
    wall = wall_no_prep + prep
    last, best = accuracies([m["history"] for m in result["per_model"]])
    return dict(prep=prep, wall=wall, wall_no_prep=wall_no_prep, exit_wait=exit_wait,
                sps=result["train_samples"] / wall,
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0,
                worker_rss=per, held=result.get("data_bytes_held", 0),
                moved=result.get("bytes_moved_between_workers", 0),
                acc_last=last, acc_best=best, sampler_cpu=sampler_cpu(mem),
                sampler_ms=sampler_ms_per_sample(mem))


def collect(work, workload, repeats, systems, store, spec):
    """{system: [row per repeat]} and the problems met (missing or mismatched runs)."""
    spec_seed, spec_epochs, workers = read_spec(spec)
    train_b, val_b = store_bytes(store)
    rows, problems = {}, []
    for sys_name in systems:
        rows[sys_name] = []
        for r in range(1, repeats + 1):
            base = os.path.join(work, f"{workload}-{sys_name}-{r}")
            try:
                mem = load(base + ".mem.json")
                if sys_name in CEREBRO_SYSTEMS:
                    rows[sys_name].append(cerebro_row(base, mem, sys_name, train_b, val_b, workers,
                                                      spec_seed, spec_epochs))
                else:
                    prep = os.path.join(work, f"{workload}-prep-{r}")
                    check_prepared(prep + ".log")
                    prep_mem = load(prep + ".mem.json")
                    rows[sys_name].append(peer_row(base, load(base + ".json"), mem, prep_mem,
                                                   spec_seed, spec_epochs))
            except (OSError, KeyError, ValueError, TypeError) as e:
                problems.append(f"{base}: {e}")
    return rows, problems, workers


def render(rows, workload, repeats, workers, command):
    med = lambda s, k: statistics.median(x[k] for x in rows[s]) if rows[s] else float("nan")
    ref = "mop"
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], capture_output=True,
                         text=True).stdout.strip()
    mb = lambda b: f"{b / 1e6:,.0f}"
    lines = [f"# Benchmark: {workload}", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}. Date {datetime.date.today()}.",
             f"Command: `{command}`. Median of {repeats} interleaved runs per system; {workers} parallel "
             "workers/trials/ranks (the spec's run.workers; sequential and pytorch use one). Every system "
             "starts from the .gz files: 'wall s' includes preparing the store ('prep s') and start-up "
             "(worker/cluster start); 'wall vs MOP' is the ratio of 'wall s'.",
             "",
             "| system | prep s | wall s | wall without prep s | exit wait s | wall vs MOP | train samples/s | "
             "peak RSS of all processes MB | peak PSS MB | peak RSS one worker MB | data held MB | "
             "state moved MB | val acc, last epoch | val acc, best epoch | sampler CPU s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in rows:
        if not rows[s]:
            lines.append(f"| {s} | failed |" + " |" * 13)
            continue
        ratio = med(s, "wall") / med(ref, "wall") if rows.get(ref) else float("nan")
        wait = f"{med(s, 'exit_wait'):.1f}" if s.startswith("ray_tune") else "-"
        lines.append(f"| {s} | {med(s, 'prep'):.1f} | {med(s, 'wall'):.1f} | {med(s, 'wall_no_prep'):.1f} | "
                     f"{wait} | {ratio:.2f}x | {med(s, 'sps'):,.0f} | {mb(med(s, 'rss'))} | "
                     f"{mb(med(s, 'pss'))} | {mb(med(s, 'worker_rss'))} | {mb(med(s, 'held'))} | "
                     f"{mb(med(s, 'moved'))} | {med(s, 'acc_last'):.4f} | {med(s, 'acc_best'):.4f} | "
                     f"{med(s, 'sampler_cpu'):.2f} ({med(s, 'sampler_ms'):.1f} ms/sample) |")
    lines += ["", "Per-run wall seconds: " + "; ".join(
        f"{s} " + ", ".join(f"{x['wall']:.1f}" for x in rows[s]) for s in rows),
              "", "'prep s': Cerebro's systems report their run's own record (summary.json "
              "timing.prepare_seconds: reading and partitioning the .gz files, hashing the store, starting "
              "the workers; bench/run.sh gives each timed run a fresh, empty CEREBRO_CACHE, or with BENCH_CACHE=off "
              "none, so it prepares from scratch, and this report refuses a run that reused a cached store); the "
              "peers load a store made by `cerebro prepare` before their timed run, and that step's wall "
              "(timed the same way as the runs, once per repetition) is their 'prep s'. 'exit wait s': "
              "after ray.shutdown() the Ray Tune runner waits (up to 15 s) until no process of the Ray "
              "session is left; that wait is the harness's check, so it is shown here and left out of "
              "'wall s'. 'val acc, last epoch' is the best model's validation accuracy at its last "
              "epoch (what Cerebro ranks by), 'best epoch' the best over all models and epochs, both "
              "from each system's per-epoch history. 'sampler CPU s': the memory sampler's own CPU "
              "while the run ran, and per sample (every 0.1 s it reads every process's stat file, the same "
              "work whatever runs, and every 0.5 s the tree's smaps_rollup files, which grows with the "
              "number of processes in the tree; it reads no command line but a new member's).",
              "", "'wall vs MOP' > 1 means slower than MOP. 'data held' counts training + validation arrays "
              "held by the workers (task holds a copy per worker; every system keeps a uint8 store's features as "
              "bytes and decodes each batch; pytorch_ddp holds one copy split over its ranks; "
              "ray_tune as its script reports: one copy in the object store; ray_tune_load: one copy per trial "
              "alive at once, as measured from the trials' start and end times). 'state moved' is model state "
              "shipped between driver and workers (Cerebro); for pytorch_ddp it is the gradient all-reduce "
              "volume, counted as a ring all-reduce (2*(W-1)/W x gradient bytes sent per rank per step, summed "
              "over ranks and steps); Ray Tune trials never move."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--systems", required=True)
    ap.add_argument("--store", required=True, help="a store of the workload (its byte counts)")
    ap.add_argument("--spec", required=True, help="the workload's spec (seed, epochs, workers)")
    ap.add_argument("--command", required=True)
    ap.add_argument("--results-dir", default="bench/results")
    a = ap.parse_args(argv)
    rows, problems, workers = collect(a.work, a.workload, a.repeats, a.systems.split(), a.store,
                                      a.spec)
    text = render(rows, a.workload, a.repeats, workers, a.command)
    print(text)
    os.makedirs(a.results_dir, exist_ok=True)
    path = os.path.join(a.results_dir, f"{datetime.date.today()}-{a.workload}.md")
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path)
    for p in problems:
        print(f"report: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
