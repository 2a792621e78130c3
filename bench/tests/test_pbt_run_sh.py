"""bench/pbt/run.sh end to end with fake binaries (issue 11's PBT benchmark): the runs are
interleaved in the documented order, the peer gets the spec's seed, epochs, the PBT spec and
the configs, every timed run a fresh CEREBRO_CACHE, the fixed baseline runs in the first
BENCH_FIXED_REPEATS repetitions, and report.py's table has the targets. Takes seconds.

  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests
"""
import json
import os
import stat
import subprocess

import yaml

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WORKLOAD = "pbt_smoke"  # bench/specs/pbt_smoke.yaml and pbt_smoke_fixed.yaml

FAKE_CEREBRO = r'''#!/usr/bin/python3
# A stand-in for build/cerebro: logs its arguments, writes what run.sh and report.py read.
import json, os, sys, yaml
args = sys.argv[1:]
opt = lambda k: args[args.index(k) + 1] if k in args else None
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": "cerebro", "argv": args,
                        "cache": os.environ.get("CEREBRO_CACHE")}) + "\n")
spec = yaml.safe_load(open(args[1]))
run = spec["run"]
E = run["epochs"]
configs = [{"id": i, "params": {"model": "mlp", "lr": 0.001 * (i + 1), "weight_decay": 1e-5}}
           for i in range(4)]
hist = lambda n, acc: [{"epoch": e + 1, "val_accuracy": acc + 0.01 * e} for e in range(n)]
if args[0] == "configs":
    print(json.dumps(configs))
elif args[0] == "prepare":
    os.makedirs(opt("--out"))
    json.dump({"format_version": 2, "task": "classification", "feature_shape": [4],
               "feature_dtype": "uint8", "feature_scale": 0.5, "num_classes": 3,
               "train": [{"x": "a", "y": "b", "n": 10}], "val": [{"x": "c", "y": "d", "n": 5}]},
              open(os.path.join(opt("--out"), "meta.json"), "w"))
elif args[0] == "run":
    out = opt("--out")
    os.makedirs(out)
    pbt = spec["search"]["method"] == "pbt"
    models = [dict(c, origin="search", status="completed", history=hist(E, 0.5 + 0.01 * c["id"]))
              for c in configs]
    journal = []
    if pbt:  # model 0 replaced after epoch 2 by model 4, a copy of model 3
        models[0].update(status="stopped", history=hist(2, 0.5))
        models.append({"id": 4, "params": dict(configs[3]["params"], lr=0.0048), "parent": 3,
                       "origin": "procedure", "status": "completed", "history": hist(E - 2, 0.6)})
        journal.append({"type": "decision", "actions": [{"type": "model_stopped", "model": 0,
            "detail": "pbt: epoch 2: accuracy 0.5 in the bottom 1 of 4; replaced by model 4, "
                      "a copy of model 3 with {}"}]})
    with open(os.path.join(out, "journal.jsonl"), "w") as f:
        for j in journal:
            f.write(json.dumps(j) + "\n")
    json.dump({"seed": run["seed"], "epochs": E, "models": models,
               "timing": {"prepare_seconds": 0.01, "train_examples": 10, "state_bytes_moved": 0}},
              open(os.path.join(out, "summary.json"), "w"))
'''

FAKE_PEER_PY = r'''#!/usr/bin/python3
# A stand-in for the peer's Python: logs the runner's arguments, writes its result JSON.
import json, os, sys
script, args = os.path.basename(sys.argv[1]), sys.argv[2:]
opt = lambda k, d=None: args[args.index(k) + 1] if k in args else d
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": script, "argv": args}) + "\n")
E = int(opt("--epochs"))
configs = json.load(open(opt("--configs")))
per_model = [{"id": c["id"], "history": [{"epoch": e + 1, "val_accuracy": 0.5} for e in range(E)],
              "lineage": [], "final_params": {"lr": c["params"]["lr"], "weight_decay": 1e-5}}
             for c in configs]
per_model[0]["lineage"] = [{"epoch": 2, "source": 3, "lr": 0.004, "weight_decay": 1e-5}]
json.dump({"system": "ray_tune_pbt", "seed": int(opt("--seed", 2026)), "epochs": E,
           "train_samples": 10, "exit_wait_seconds": 0.0, "per_model": per_model,
           "pbt": {"num_perturbations": 1}}, open(opt("--out"), "w"))
'''


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_pbt_run_sh_interleaves_and_reports(tmp_path):
    spec = yaml.safe_load(open(os.path.join(BENCH, "specs", WORKLOAD + ".yaml")))["run"]
    assert spec["seed"] != 2026  # else a seed that never reaches the peer would not show
    build = tmp_path / "build"
    build.mkdir()
    executable(build / "cerebro", FAKE_CEREBRO)
    executable(build / "cerebro-worker", "#!/bin/sh\nexit 1\n")
    log = tmp_path / "log.jsonl"
    env = dict(os.environ, FAKE_LOG=str(log), BENCH_BUILD=str(build),
               BENCH_PEER_PY=executable(tmp_path / "peer-python", FAKE_PEER_PY),
               BENCH_WORK=str(tmp_path / "work"), BENCH_RESULTS=str(tmp_path / "results"),
               BENCH_FIXED_REPEATS="1")
    r = subprocess.run(["bash", os.path.join(BENCH, "pbt", "run.sh"), "2", WORKLOAD], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = [json.loads(l) for l in log.read_text().splitlines()]
    steps = [c["argv"][0] + ":" + os.path.basename(c["argv"][1]) if c["prog"] == "cerebro"
             else c["prog"] for c in calls]
    assert steps == ["configs:pbt_smoke.yaml", "configs:pbt_smoke_fixed.yaml",
                     "prepare:pbt_smoke.yaml", "run:pbt_smoke.yaml", "run:pbt_smoke_fixed.yaml",
                     "ray_tune_pbt.py",
                     "prepare:pbt_smoke.yaml", "run:pbt_smoke.yaml", "ray_tune_pbt.py"], steps
    for c in calls:
        if c["prog"] == "ray_tune_pbt.py":
            argv = c["argv"]
            assert argv[argv.index("--seed") + 1] == str(spec["seed"])
            assert argv[argv.index("--epochs") + 1] == str(spec["epochs"])
            assert argv[argv.index("--workers") + 1] == str(spec["workers"])
            assert argv[argv.index("--spec") + 1].endswith("bench/specs/pbt_smoke.yaml")
    timed = [c for c in calls if c["prog"] == "cerebro" and c["argv"][0] in ("run", "prepare")]
    caches = [c["cache"] for c in timed]
    assert all(caches) and len(set(caches)) == len(caches)  # a fresh one per timed run
    assert not any(os.path.exists(c) for c in caches)  # and removed afterwards

    [table] = os.listdir(tmp_path / "results")
    text = (tmp_path / "results" / table).read_text()
    for needle in ("| val acc, final |", "| cerebro_pbt |", "| cerebro_fixed |",
                   "| ray_tune_pbt |", "## Targets (issue 11)", "beats the best fixed model",
                   "model 4 = copy of 3 after epoch 2", "trial 0 took model 3's checkpoint"):
        assert needle in text, needle
    assert "failed" not in text
    # PBT's final accuracy counts the surviving members only (model 4: 0.6 + 0.01 * (E - 3)).
    row = next(l for l in text.splitlines() if l.startswith("| cerebro_pbt |"))
    assert f"| {0.6 + 0.01 * (spec['epochs'] - 3):.4f} |" in row, row


def test_pbt_run_sh_refuses_specs_with_different_configs(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    fake = FAKE_CEREBRO.replace('if args[0] == "configs":',
                                'if args[0] == "configs" and "fixed" in args[1]:\n'
                                '    print("[]")\nelif args[0] == "configs":')
    executable(build / "cerebro", fake)
    executable(build / "cerebro-worker", "#!/bin/sh\nexit 1\n")
    env = dict(os.environ, FAKE_LOG=str(tmp_path / "log"), BENCH_BUILD=str(build),
               BENCH_PEER_PY="/bin/false", BENCH_WORK=str(tmp_path / "work"),
               BENCH_RESULTS=str(tmp_path / "results"))
    r = subprocess.run(["bash", os.path.join(BENCH, "pbt", "run.sh"), "1", WORKLOAD], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "generate different configurations" in r.stderr, r.stderr
