#!/usr/bin/env python3
"""Turns bench/early_stopping/run.sh's runs into bench/results/<date>-early-stopping.md:
the full grid (the reference), Cerebro's ASHA and Ray Tune's ASHAScheduler over the same
configurations, medians over the repeats, and the ratios against issue 11's targets.

One definition for every system:
  reference     the grid run's best final-epoch validation accuracy (max over models of
                the last history entry); the target is reference - 0.005.
  units         training units: Cerebro, (model, epoch, partition) train units in the
                journal (epochs x partitions); Ray Tune, epochs trained (its trials see all
                the data in one piece). "% of grid" divides by the grid's count of the same
                kind (Cerebro: the grid run's units; Ray Tune: configurations x max_t).
  val acc, last epoch / best epoch   bench/report.py's accuracies(): the best model's
                accuracy at its last trained epoch, and the best over all models and epochs.
  time to target   seconds from the start of the timed process (run.sh's OUT.start: the
                wall clock just before peak_rss.py started it) to the first moment any model
                had a validation accuracy >= the target: Cerebro, the latest finished_at of
                the journal's units of that (model, epoch) (its evaluation on every
                partition); Ray Tune, the epoch's report_time (tune.report in the trial).
                Ray Tune's includes its store's preparation (a separate timed `cerebro
                prepare`, added, as bench/report.py adds it to a peer's wall); Cerebro
                prepares inside its run.
  wall s        Cerebro: the process wall; Ray Tune: its process wall minus its exit wait
                plus its prep (bench/report.py's definition); exit wait shown apart.
  peak RSS/PSS  of all processes of the run (bench/peers/peak_rss.py).
The seed and epochs every run used are checked against the spec, the ASHA run's
configurations against the grid's (same params, same order), and every timed Cerebro run
and prepare must have prepared from the source files; a mismatch is reported and the
script exits 1 (the table still prints).
"""
import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import report as bench_report  # noqa: E402  (bench/report.py: accuracies, checks)

TARGET_GAP = 0.005  # issue 11: within 0.5 accuracy points of the grid's best
SYSTEMS = ("cerebro_asha", "ray_tune_asha")


def load(path):
    with open(path) as f:
        return json.load(f)


def read_start(base):
    with open(base + ".start") as f:
        return float(f.read().strip())


def spec_knobs(path):
    """(seed, epochs, workers, grace_period, reduction_factor, max_t) of a spec."""
    import yaml
    with open(path) as f:
        s = yaml.safe_load(f)
    run, search = s["run"], s.get("search") or {}
    epochs = int(run["epochs"])
    return (int(run["seed"]), epochs, int(run["workers"]), int(search.get("grace_period", 1)),
            float(search.get("reduction_factor", 4)), int(search.get("max_t", epochs)))


def journal_units(run_dir):
    """{(model, epoch): latest finished_at of its units} (epoch numbered from 1, as the
    metrics are; the journal counts from 0) and the number of distinct train units."""
    done, train = {}, set()
    with open(os.path.join(run_dir, "journal.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("type") != "unit":
                continue
            key = (int(r["model"]), int(r["epoch"]) + 1)
            done[key] = max(done.get(key, 0.0), float(r["finished_at"]))
            if r.get("kind") == "train":
                train.add((key, r.get("partition")))
    return done, len(train)


def first_reach(events, target):
    """events: [(seconds, val_accuracy)]; the first time accuracy >= target (inf: never)."""
    return min((t for t, acc in events if acc >= target - 1e-12), default=math.inf)


def cerebro_run(base, spec_seed, spec_epochs):
    """The facts of one timed Cerebro run (grid or ASHA)."""
    s = load(os.path.join(base, "summary.json"))
    bench_report.check_prepared(base + ".log")
    bench_report.check_run(f"{base} (cerebro)", s["seed"], s["epochs"], spec_seed, spec_epochs)
    mem = load(base + ".mem.json")
    start = read_start(base)
    done, units = journal_units(base)
    events = []
    for m in s["models"]:
        for h in m.get("history", []):
            at = done.get((int(m["id"]), int(h["epoch"])))
            if at is not None:
                events.append((at - start, float(h["val_accuracy"])))
    last, best = bench_report.accuracies([m.get("history", []) for m in s["models"]])
    configs = [m["params"] for m in sorted(load(os.path.join(base, "models.json")),
                                           key=lambda m: m["id"])]
    return dict(wall=mem["wall_seconds"], prep=s["timing"]["prepare_seconds"], exit_wait=0.0,
                units=units, epochs=sum(len(m.get("history", [])) for m in s["models"]),
                models=len(s["models"]),
                full=sum(1 for m in s["models"] if len(m.get("history", [])) >= spec_epochs),
                acc_last=last, acc_best=best, events=events,
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0,
                configs=configs)


def ray_run(base, prep_base, spec_seed, spec_epochs):
    r = load(base + ".json")
    bench_report.check_run(f"{base}.json (ray_tune)", r["seed"], r["epochs"], spec_seed,
                           spec_epochs)
    if (r.get("scheduler") or {}).get("name") != "asha":
        raise ValueError(f"{base}.json: not an ASHAScheduler run")
    if r.get("errors"):
        raise ValueError(f"{base}.json: {len(r['errors'])} trial error(s)")
    mem = load(base + ".mem.json")
    bench_report.check_prepared(prep_base + ".log")
    prep = load(prep_base + ".mem.json")["wall_seconds"]
    start = read_start(base)
    exit_wait = r.get("exit_wait_seconds", 0.0)
    events = [(h["report_time"] - start + prep, float(h["val_accuracy"]))
              for m in r["per_model"] for h in m["history"]]
    last, best = bench_report.accuracies([m["history"] for m in r["per_model"]])
    epochs = sum(len(m["history"]) for m in r["per_model"])
    return dict(wall=mem["wall_seconds"] - exit_wait + prep, prep=prep, exit_wait=exit_wait,
                units=epochs, epochs=epochs, models=len(r["per_model"]),
                full=sum(1 for m in r["per_model"] if len(m["history"]) >= spec_epochs),
                acc_last=last, acc_best=best, events=events,
                rss=mem["peak_tree_rss_bytes"], pss=mem.get("peak_tree_pss_bytes") or 0)


def collect(work, wl, repeats, grid_spec, asha_spec):
    """(grid facts or None, {system: [facts per repeat]}, problems)."""
    problems = []
    g_seed, g_epochs, _, _, _, _ = spec_knobs(grid_spec)
    seed, epochs, _, _, _, _ = spec_knobs(asha_spec)
    if (g_seed, g_epochs) != (seed, epochs):
        problems.append(f"{grid_spec} and {asha_spec} differ in run.seed or run.epochs")
    grid = None
    try:
        grid = cerebro_run(os.path.join(work, f"{wl}-grid-1"), g_seed, g_epochs)
    except (OSError, KeyError, ValueError, TypeError) as e:
        problems.append(f"grid: {e}")
    try:
        grid_configs = [m["params"] for m in load(os.path.join(work, f"{wl}-configs.json"))]
    except (OSError, KeyError, ValueError, TypeError) as e:
        grid_configs = None
        problems.append(f"configs: {e}")
    rows = {s: [] for s in SYSTEMS}
    for r in range(1, repeats + 1):
        for sys_name in SYSTEMS:
            base = os.path.join(work, f"{wl}-{sys_name}-{r}")
            try:
                if sys_name == "cerebro_asha":
                    row = cerebro_run(base, seed, epochs)
                    if grid_configs is not None and row["configs"] != grid_configs:
                        raise ValueError("the ASHA run's configurations are not the grid's "
                                         "(same params in the same order; search.sampler: grid)")
                else:
                    row = ray_run(base, os.path.join(work, f"{wl}-prep-{r}"), seed, epochs)
                rows[sys_name].append(row)
            except (OSError, KeyError, ValueError, TypeError) as e:
                problems.append(f"{base}: {e}")
    return grid, rows, problems


def render(grid, rows, wl, repeats, asha_spec, command):
    seed, epochs, workers, grace, eta, max_t = spec_knobs(asha_spec)
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                         capture_output=True, text=True).stdout.strip()
    n_configs = grid["models"] if grid else float("nan")
    grid_units = grid["units"] if grid else float("nan")
    reference = grid["acc_last"] if grid else float("nan")
    target = reference - TARGET_GAP
    for facts in rows.values():
        for x in facts:
            x["reach"] = first_reach(x["events"], target)
    # % of the grid in each system's own unit: Cerebro's (epoch, partition) units, Ray
    # Tune's epochs (configurations x max_t in a grid).
    grid_of = {"cerebro_asha": grid_units, "ray_tune_asha": n_configs * max_t}

    def med(s, k):
        vals = [x[k] for x in rows[s]]
        return statistics.median(vals) if vals else float("nan")

    def secs(v):
        return "not reached" if v == math.inf else f"{v:.1f}"

    mb = lambda b: f"{b / 1e6:,.0f}"
    lines = [f"# Benchmark: early stopping ({wl}), Cerebro ASHA vs Ray Tune ASHAScheduler", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}. "
             f"Date {datetime.date.today()}.",
             f"Command: `{command}`. The full grid once (the reference); then {repeats} "
             f"interleaved repetitions of: the peers' store (`cerebro prepare`), Cerebro ASHA, "
             f"Ray Tune ASHAScheduler. Medians over the repetitions.",
             f"Workload: {n_configs} configurations (the grid of bench/specs/{wl}_grid.yaml, in "
             f"grid order for both), grace_period {grace}, reduction_factor {eta:g}, max_t "
             f"{max_t} epochs, seed {seed}, {workers} workers / concurrent trials (1 CPU, 1 torch "
             "thread each; Ray Tune's data through the object store).", ""]
    if grid:
        lines += [f"Reference (full grid, Cerebro MOP, {grid['units']} units, wall "
                  f"{grid['wall']:.1f} s): best final-epoch val accuracy **{reference:.4f}** "
                  f"(best over epochs {grid['acc_best']:.4f}); target {target:.4f}; reached after "
                  f"{secs(first_reach(grid['events'], target))} s; peak RSS {mb(grid['rss'])} MB, "
                  f"PSS {mb(grid['pss'])} MB.", ""]
    lines += ["| system | wall s | prep s | exit wait s | units | units % of grid | models to "
              "max_t | val acc, last epoch | val acc, best epoch | within 0.5 pts | "
              "time to target s | peak RSS MB | peak PSS MB |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        if not rows[s]:
            lines.append(f"| {s} | failed |" + " |" * 11)
            continue
        wait = f"{med(s, 'exit_wait'):.1f}" if s.startswith("ray") else "-"
        last = med(s, "acc_last")
        lines.append(
            f"| {s} | {med(s, 'wall'):.1f} | {med(s, 'prep'):.1f} | {wait} | {med(s, 'units'):.0f} | "
            f"{100 * med(s, 'units') / grid_of[s]:.1f}% | {med(s, 'full'):.0f} | {last:.4f} | "
            f"{med(s, 'acc_best'):.4f} | {'yes' if last >= target - 1e-12 else 'no'} | "
            f"{secs(med(s, 'reach'))} | {mb(med(s, 'rss'))} | {mb(med(s, 'pss'))} |")
    if rows["cerebro_asha"] and rows["ray_tune_asha"]:
        c, r = "cerebro_asha", "ray_tune_asha"
        reach = (med(r, "reach") / med(c, "reach")) if med(c, "reach") not in (0, math.inf) \
            else float("nan")
        lines += ["", "| ratio | value | issue 11's target |", "|---|---|---|",
                  f"| Cerebro ASHA units / grid units | {100 * med(c, 'units') / grid_units:.1f}% "
                  "| <= 40% (and within 0.5 pts) |",
                  f"| time to target, Ray Tune / Cerebro | "
                  f"{'Ray Tune never reached it' if reach == math.inf else f'{reach:.2f}x'} | >= 1.5x |",
                  f"| wall, Ray Tune / Cerebro | {med(r, 'wall') / med(c, 'wall'):.2f}x | - |",
                  f"| peak PSS, Cerebro / Ray Tune | {med(c, 'pss') / med(r, 'pss'):.2f} | <= 0.5 |",
                  f"| peak RSS, Cerebro / Ray Tune | {med(c, 'rss') / med(r, 'rss'):.2f} | <= 0.5 |"]
    lines += ["", "Per run: " + "; ".join(
        f"{s} " + ", ".join(f"(wall {x['wall']:.1f} s, target {secs(x['reach'])}, "
                            f"{x['units']} units, acc {x['acc_last']:.4f})" for x in rows[s])
        for s in SYSTEMS),
        "", "Definitions (bench/early_stopping/report.py): units are Cerebro's (model, epoch, "
        "partition) training units from the journal, Ray Tune's epochs trained, each as a % of "
        "the grid in its own unit. 'time to target': seconds from the start of the timed "
        "process to the first validation result >= the target (Cerebro: the journal's "
        "finished_at of that epoch's last unit; Ray Tune: the epoch's tune.report time), Ray "
        "Tune's plus its store's preparation ('prep s', a separate timed `cerebro prepare`), as "
        "in 'wall s'; Cerebro prepares inside its run (its 'prep s' is its own record). 'exit "
        "wait s': Ray Tune's runner waiting for Ray's processes to go after ray.shutdown(), out "
        "of 'wall s'. 'val acc, last epoch': the best model's accuracy at its last trained "
        "epoch (max over models); 'best epoch': max over models and epochs; 'within 0.5 pts' "
        "compares the former with the target. 'models to max_t': models trained all max_t "
        "epochs. Peak RSS/PSS: all processes of the run (driver and workers; Ray's GCS, "
        "raylet, agents and trial workers), bench/peers/peak_rss.py."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--grid-spec", required=True)
    ap.add_argument("--asha-spec", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--results-dir", default="bench/results")
    a = ap.parse_args(argv)
    grid, rows, problems = collect(a.work, a.workload, a.repeats, a.grid_spec, a.asha_spec)
    text = render(grid, rows, a.workload, a.repeats, a.asha_spec, a.command)
    print(text)
    os.makedirs(a.results_dir, exist_ok=True)
    name = "early-stopping" if a.workload == "es" else f"early-stopping-{a.workload}"
    path = os.path.join(a.results_dir, f"{datetime.date.today()}-{name}.md")
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path)
    for p in problems:
        print(f"report: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
