"""bench/early_stopping/run.sh end to end with stand-ins for cerebro and the peers' Python
(issue 11): the grid once, then prepare / Cerebro ASHA / Ray Tune ASHA per repetition, each
with a fresh CEREBRO_CACHE and a start stamp; Ray Tune gets the grid's configurations and
the ASHA spec's seed, epochs, grace period, reduction factor and max_t; the table's units,
accuracies and times to the target follow report.py's definitions. Takes seconds.

  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests
"""
import json
import os
import stat
import subprocess

import yaml

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WORKLOAD = "es_smoke"  # bench/specs/es_smoke_{grid,asha}.yaml

# Three configurations; model m reaches 0.5 + 0.03 * epoch - 0.05 * m at each epoch, known
# 10 s per epoch after the start stamp. The grid trains all of them to run.epochs (E), ASHA
# model 0 only (the others 1 epoch): reference 0.5 + 0.03 E, reached by ASHA after 10 E s.
FAKE_CEREBRO = r'''#!/usr/bin/python3
import json, os, sys, yaml
args = sys.argv[1:]
opt = lambda k: args[args.index(k) + 1] if k in args else None
cache = os.environ.get("CEREBRO_CACHE")
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": "cerebro", "argv": args, "cache": cache,
                        "cache_empty_dir": bool(cache) and os.path.isdir(cache)
                                           and not os.listdir(cache)}) + "\n")
spec = yaml.safe_load(open(args[1]))
run = spec["run"]
configs = [{"id": i, "params": {"model": "mlp", "hidden": [h]}} for i, h in enumerate((8, 16, 32))]
if args[0] == "configs":
    print(json.dumps(configs))
elif args[0] == "prepare":
    os.makedirs(opt("--out"))
    json.dump({"format_version": 2}, open(os.path.join(opt("--out"), "meta.json"), "w"))
elif args[0] == "run":
    out = opt("--out")
    os.makedirs(out)
    start = float(open(out + ".start").read())
    asha = (spec.get("search") or {}).get("method") == "asha"
    models, journal = [], [{"type": "journal", "version": 2}]
    for c in configs:
        m = c["id"]
        epochs = 1 if asha and m > 0 else run["epochs"]
        hist = [{"epoch": e, "val_accuracy": round(0.5 + 0.03 * e - 0.05 * m, 4)}
                for e in range(1, epochs + 1)]
        models.append({"id": m, "history": hist})
        for e in range(epochs):
            for kind in ("train", "eval"):
                for p in range(run["workers"]):
                    journal.append({"type": "unit", "model": m, "epoch": e, "kind": kind,
                                    "partition": p, "finished_at": start + 10 * (e + 1) - p})
    json.dump(configs, open(os.path.join(out, "models.json"), "w"))
    json.dump({"seed": run["seed"], "epochs": run["epochs"], "models": models,
               "timing": {"prepare_seconds": 0.5}}, open(os.path.join(out, "summary.json"), "w"))
    with open(os.path.join(out, "journal.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in journal)
'''

# Ray Tune's stand-in: every model 1 epoch but model 1 (3 epochs: 0.5 + 0.09 - 0.05 = 0.54,
# short of the target). "not reached".
FAKE_PEER_PY = r'''#!/usr/bin/python3
import json, os, sys
script, args = os.path.basename(sys.argv[1]), sys.argv[2:]
opt = lambda k, d=None: args[args.index(k) + 1] if k in args else d
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": script, "argv": args}) + "\n")
out = opt("--out")
start = float(open(out[:-len(".json")] + ".start").read())
configs = json.load(open(opt("--configs")))
per_model = []
for c in configs:
    m = c["id"]
    per_model.append({"id": m, "history": [
        {"epoch": e, "val_accuracy": round(0.5 + 0.03 * e - 0.05 * m, 4),
         "report_time": start + 20 * e} for e in range(1, (3 if m == 1 else 1) + 1)]})
json.dump({"system": "ray_tune", "seed": int(opt("--seed")), "epochs": int(opt("--epochs")),
           "scheduler": {"name": opt("--scheduler")}, "errors": [], "exit_wait_seconds": 0.1,
           "per_model": per_model}, open(out, "w"))
'''


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def tables(text):
    """[{first cell: {column: cell}}] of every markdown table in text."""
    out, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip("|").split("|")])
        elif block:
            head = block[0]
            out.append({cells[0]: dict(zip(head, cells)) for cells in block[2:]})
            block = []
    return out


def test_early_stopping_harness(tmp_path):
    spec = yaml.safe_load(open(os.path.join(BENCH, "specs", WORKLOAD + "_asha.yaml")))
    build = tmp_path / "build"
    build.mkdir()
    executable(build / "cerebro", FAKE_CEREBRO)
    executable(build / "cerebro-worker", "#!/bin/sh\nexit 1\n")
    log = tmp_path / "log.jsonl"
    results = tmp_path / "results"
    env = dict(os.environ, FAKE_LOG=str(log), BENCH_BUILD=str(build),
               BENCH_PEER_PY=executable(tmp_path / "peer-python", FAKE_PEER_PY),
               BENCH_WORK=str(tmp_path / "work"), BENCH_RESULTS=str(results))
    r = subprocess.run(["bash", os.path.join(BENCH, "early_stopping", "run.sh"), WORKLOAD, "2"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = [json.loads(l) for l in log.read_text().splitlines()]

    timed = [c for c in calls if c["prog"] == "cerebro" and c["argv"][0] in ("run", "prepare")]
    # the grid once, then per repetition: prepare, ASHA
    assert [(c["argv"][0], os.path.basename(c["argv"][1])) for c in timed] == \
        [("run", "es_smoke_grid.yaml")] + \
        [("prepare", "es_smoke_asha.yaml"), ("run", "es_smoke_asha.yaml")] * 2
    assert all(c["cache_empty_dir"] for c in timed)
    assert len({c["cache"] for c in timed}) == len(timed)

    peers = [c["argv"] for c in calls if c["prog"] == "ray_tune.py"]
    assert len(peers) == 2
    want = {"--seed": spec["run"]["seed"], "--epochs": spec["run"]["epochs"],
            "--workers": spec["run"]["workers"], "--scheduler": "asha",
            "--grace-period": spec["search"]["grace_period"],
            "--reduction-factor": spec["search"]["reduction_factor"],
            "--max-t": spec["run"]["epochs"], "--data-passing": "object_store"}
    for argv in peers:
        assert {k: argv[argv.index(k) + 1] for k in want} == {k: str(v) for k, v in want.items()}
        assert argv[argv.index("--configs") + 1].endswith("es_smoke-configs.json")

    [name] = os.listdir(results)
    assert name.endswith("-early-stopping-es_smoke.md")
    text = (results / name).read_text()
    epochs, workers = spec["run"]["epochs"], spec["run"]["workers"]
    reference = 0.5 + 0.03 * epochs
    assert f"best final-epoch val accuracy **{reference:.4f}**" in text
    assert f"target {reference - 0.005:.4f}" in text
    main, ratios = tables(text)
    c, ray = main["cerebro_asha"], main["ray_tune_asha"]
    # Cerebro: (E + 1 + 1) epochs x partitions of the grid's 3 x E x partitions.
    assert (c["units"], c["units % of grid"], c["models to max_t"]) == \
        (str((epochs + 2) * workers), f"{100 * (epochs + 2) / (3 * epochs):.1f}%", "1")
    assert (c["val acc, last epoch"], c["within 0.5 pts"], c["time to target s"]) == \
        (f"{reference:.4f}", "yes", f"{10 * epochs:.1f}")
    # Ray Tune: 1 + 3 + 1 epochs of 3 x max_t.
    assert (ray["units"], ray["units % of grid"], ray["exit wait s"]) == \
        ("5", f"{100 * 5 / (3 * epochs):.1f}%", "0.1")
    assert (ray["val acc, last epoch"], ray["within 0.5 pts"], ray["time to target s"]) == \
        ("0.5400", "no", "not reached")
    assert ratios["time to target, Ray Tune / Cerebro"]["value"] == "Ray Tune never reached it"
