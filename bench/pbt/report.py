#!/usr/bin/env python3
"""The table of bench/pbt/run.sh: Cerebro's PBT, the best fixed-hyperparameter model of the
same population (Cerebro), and Ray Tune's PopulationBasedTraining, medians over the
repeats, against issue 11's targets; written to bench/results/<date>-pbt.md (pbt_aug; other
workloads: <date>-<workload>.md).

Columns mean what bench/report.py's mean (its cerebro_row / peer_row make the walls, the
prep and the memory columns), except the accuracies, which follow PBT's population:
  val acc, final   the best validation accuracy at the final epoch among the models that
                   trained to run.epochs (PBT: the surviving members, not the replaced ones
                   at the boundary they were stopped at; fixed: every model);
  val acc, best epoch   max over all models and epochs (replaced members included).
Checks (a mismatch is listed and the script exits 1): every run's seed and epochs are the
spec's; the PBT run's initial models (origin "search") and the fixed run's models have the
params of the configs the peer got; every model of the fixed run and every PBT member and
Ray trial reached run.epochs.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import report as base  # noqa: E402  (bench/report.py)

SYSTEMS = ("cerebro_pbt", "cerebro_fixed", "ray_tune_pbt")
TARGET_SPEEDUP = 1.3  # issue 11: Ray Tune's wall / Cerebro PBT's >= 1.3


def final_accuracy(histories_done):
    """(accuracy, index) of the best last entry among the histories that reached the end."""
    return max(((h[-1]["val_accuracy"], i) for i, h in enumerate(histories_done)),
               default=(float("nan"), None))


REPLACED = re.compile(r"^pbt: epoch (\d+): .* replaced by model (\d+), a copy of model (\d+)")


def cerebro_copies(run_dir, summary):
    """[{model, parent, epoch, params}] of a Cerebro PBT run: which model was copied from
    whom after how many epochs (the journal's stop decisions say: "pbt: epoch T: ...
    replaced by model N, a copy of model P with ...")."""
    params = {m["id"]: m["params"] for m in summary["models"]}
    out = []
    with open(os.path.join(run_dir, "journal.jsonl")) as f:
        for line in f:
            rec = json.loads(line)
            for act in rec.get("actions", []) if rec.get("type") == "decision" else []:
                m = REPLACED.match(act.get("detail", "")) if act.get("type") == "model_stopped" else None
                if m:
                    out.append({"model": int(m.group(2)), "parent": int(m.group(3)),
                                "epoch": int(m.group(1)), "params": params[int(m.group(2))]})
    return out


def load_rows(work, workload, repeats, fixed_repeats, spec, configs):
    spec_seed, spec_epochs, workers = base.read_spec(spec)
    store_train, store_val = base.store_bytes(os.path.join(work, f"{workload}-store-{repeats}"))
    want = {c["id"]: c["params"] for c in configs}
    rows = {s: [] for s in SYSTEMS}
    problems, facts = [], {}
    for r in range(1, repeats + 1):
        for sys_name in SYSTEMS:
            if sys_name == "cerebro_fixed" and r > fixed_repeats:
                continue
            b = os.path.join(work, f"{workload}-{sys_name}-{r}")
            try:
                mem = base.load(b + ".mem.json")
                if sys_name.startswith("cerebro"):
                    row = base.cerebro_row(b, mem, "mop", store_train, store_val, workers,
                                           spec_seed, spec_epochs)
                    s = base.load(os.path.join(b, "summary.json"))
                    initial = {m["id"]: m["params"] for m in s["models"]
                               if m.get("origin") == "search"}
                    if initial != want:
                        raise ValueError("its initial models are not the peer's configs")
                    done = [m for m in s["models"] if m["status"] == "completed"]
                    acc, i = final_accuracy([m["history"] for m in done])
                    if sys_name == "cerebro_fixed" and len(done) != len(want):
                        raise ValueError(f"{len(done)} of {len(want)} models completed")
                    if sys_name == "cerebro_pbt" and len(done) != len(want):
                        raise ValueError(f"{len(done)} members at the end, not {len(want)}")
                    best = done[i]
                    f = {"best_final": {"id": best["id"], "params": best["params"]},
                         "copies": cerebro_copies(b, s)}
                else:
                    res = base.load(b + ".json")
                    prep = os.path.join(work, f"{workload}-prep-{r}")
                    base.check_prepared(prep + ".log")
                    row = base.peer_row(b, res, mem, base.load(prep + ".mem.json"), spec_seed,
                                        spec_epochs)
                    got = {c["id"] for c in configs}
                    if {m["id"] for m in res["per_model"]} != got:
                        raise ValueError("its trials are not the configs' models")
                    done = [m for m in res["per_model"]
                            if m["history"] and m["history"][-1]["epoch"] == spec_epochs]
                    if len(done) != len(got):
                        raise ValueError(f"{len(done)} of {len(got)} trials reached the end")
                    acc, i = final_accuracy([m["history"] for m in done])
                    best = done[i]
                    f = {"best_final": {"id": best["id"], "params": best["final_params"],
                                        "lineage": best["lineage"]},
                         "copies": [dict(l, model=m["id"]) for m in res["per_model"]
                                    for l in m["lineage"]],
                         "perturbations": res["pbt"]["num_perturbations"]}
                row["acc_final"] = acc
                rows[sys_name].append(row)
                facts.setdefault(sys_name, []).append(f)
            except (OSError, KeyError, ValueError, TypeError, IndexError) as e:
                problems.append(f"{b}: {e}")
    return rows, problems, facts, workers


def render(rows, facts, workload, repeats, fixed_repeats, workers, command, epochs, interval):
    med = lambda s, k: statistics.median(x[k] for x in rows[s]) if rows[s] else float("nan")
    cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"],
                         capture_output=True, text=True).stdout.strip()
    mb = lambda b: f"{b / 1e6:,.0f}"
    lines = [f"# Benchmark: {workload} (PBT, issue 11)", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}. "
             f"Date {datetime.date.today()}.",
             f"Command: `{command}`. Median of {repeats} interleaved runs per system "
             f"(cerebro_fixed: {fixed_repeats}, see the notes); "
             f"{workers} workers / concurrent trials; {epochs} epochs, perturbation_interval "
             f"{interval}. 'wall s' starts from the .gz files (Cerebro prepares inside its run; "
             "the peer's store preparation, timed the same way, is added to its wall) and leaves "
             "out Ray's exit wait; 'Ray / this' is ray_tune_pbt's wall over this row's.", "",
             "| system | prep s | wall s | wall without prep s | exit wait s | Ray / this | "
             "val acc, final | val acc, best epoch | peak RSS of all processes MB | peak PSS MB | "
             "peak RSS one process MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        if not rows[s]:
            lines.append(f"| {s} | failed |" + " |" * 9)
            continue
        ratio = med("ray_tune_pbt", "wall") / med(s, "wall") if rows["ray_tune_pbt"] else float("nan")
        wait = f"{med(s, 'exit_wait'):.1f}" if s == "ray_tune_pbt" else "-"
        lines.append(f"| {s} | {med(s, 'prep'):.1f} | {med(s, 'wall'):.1f} | "
                     f"{med(s, 'wall_no_prep'):.1f} | {wait} | {ratio:.2f}x | "
                     f"{med(s, 'acc_final'):.4f} | {med(s, 'acc_best'):.4f} | {mb(med(s, 'rss'))} | "
                     f"{mb(med(s, 'pss'))} | {mb(med(s, 'worker_rss'))} |")
    lines += ["", "Per-run wall s: " + "; ".join(
        f"{s} " + ", ".join(f"{x['wall']:.1f}" for x in rows[s]) for s in SYSTEMS),
              "Per-run val acc, final: " + "; ".join(
        f"{s} " + ", ".join(f"{x['acc_final']:.4f}" for x in rows[s]) for s in SYSTEMS), ""]

    ok = lambda c: "**met**" if c else "**not met**"
    have = all(rows[s] for s in SYSTEMS)
    if have:
        pbt, fixed, ray = (med(s, "acc_final") for s in SYSTEMS)
        speed = med("ray_tune_pbt", "wall") / med("cerebro_pbt", "wall")
        speed_np = med("ray_tune_pbt", "wall_no_prep") / med("cerebro_pbt", "wall_no_prep")
        lines += ["## Targets (issue 11)", "",
                  "| target | measured | |", "|---|---|---|",
                  f"| Cerebro PBT beats the best fixed model of the same population (final "
                  f"epoch) | {pbt:.4f} vs {fixed:.4f} ({100 * (pbt - fixed):+.2f} points) | "
                  f"{ok(pbt > fixed)} |",
                  f"| final best accuracy at least Ray Tune PBT's | {pbt:.4f} vs {ray:.4f} "
                  f"({100 * (pbt - ray):+.2f} points) | {ok(pbt >= ray)} |",
                  f"| wall time >= {TARGET_SPEEDUP}x faster than Ray Tune PBT | {speed:.2f}x "
                  f"(without data preparation {speed_np:.2f}x) | {ok(speed >= TARGET_SPEEDUP)} |",
                  ""]
    lines += ["## Decisions (repeat 1)", ""]
    for s in ("cerebro_pbt", "ray_tune_pbt"):
        f = facts.get(s, [None])[0]
        if not f:
            continue
        short = lambda p: ", ".join(f"{k} {v:.3g}" for k, v in sorted(p.items())
                                    if k in ("lr", "weight_decay"))
        if s == "cerebro_pbt":
            copies = "; ".join(f"model {c['model']} = copy of {c['parent']} after "
                               f"epoch {c['epoch']} ({short(c['params'])})"
                               for c in f["copies"])
            lines.append(f"- cerebro_pbt: {len(f['copies'])} replacements: {copies}. Best final: "
                         f"model {f['best_final']['id']} ({short(f['best_final']['params'])}).")
        else:
            copies = "; ".join(f"trial {c['model']} took model {c['source']}'s checkpoint "
                               f"after epoch {c['epoch']} ({short(c)})" for c in f["copies"])
            lines.append(f"- ray_tune_pbt: {f['perturbations']} exploits: {copies}. Best final: "
                         f"trial {f['best_final']['id']} ({short(f['best_final']['params'])}).")
    f = facts.get("cerebro_fixed", [None])[0]
    if f:
        p = f["best_final"]["params"]
        lines.append(f"- cerebro_fixed: best model {f['best_final']['id']} (lr {p['lr']:.3g}, "
                     f"weight_decay {p['weight_decay']:.3g}).")
    lines += ["", "'val acc, final': the best validation accuracy at epoch "
              f"{epochs} among the models that trained to the end (PBT: the surviving members; a "
              "replaced member's accuracy at the boundary it was stopped at is not final). 'val "
              "acc, best epoch': the best over all models and epochs. 'prep s', 'exit wait s' and "
              "the memory columns as in bench/report.py: peak RSS / PSS of the whole process tree "
              "(driver and workers; Ray's GCS, raylet, workers), sampled by bench/peers/peak_rss.py; "
              "'one process' is the largest single process."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--workload", required=True)
    ap.add_argument("--repeats", type=int, required=True)
    ap.add_argument("--fixed-repeats", type=int, help="repetitions with a cerebro_fixed run "
                    "(default: all)")
    ap.add_argument("--spec", required=True)
    ap.add_argument("--configs", required=True, help="the configs the peer got")
    ap.add_argument("--command", required=True)
    ap.add_argument("--results-dir", default="bench/results")
    a = ap.parse_args(argv)
    import yaml
    with open(a.spec) as f:
        spec = yaml.safe_load(f)
    with open(a.configs) as f:
        configs = json.load(f)
    fixed_repeats = a.repeats if a.fixed_repeats is None else a.fixed_repeats
    rows, problems, facts, workers = load_rows(a.work, a.workload, a.repeats, fixed_repeats,
                                               a.spec, configs)
    text = render(rows, facts, a.workload, a.repeats, fixed_repeats, workers, a.command,
                  int(spec["run"]["epochs"]), int(spec["search"].get("perturbation_interval", 1)))
    print(text)
    os.makedirs(a.results_dir, exist_ok=True)
    name = "pbt" if a.workload == "pbt_aug" else a.workload  # the full one: <date>-pbt.md
    path = os.path.join(a.results_dir, f"{datetime.date.today()}-{name}.md")
    with open(path, "w") as f:
        f.write(text)
    print("wrote", path)
    for p in problems:
        print(f"report: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
