"""bench/run.sh end to end with fake binaries (issue 15 items 11 and 14): the peers get the
spec's seed, every timed `cerebro run` / `cerebro prepare` gets a fresh, empty
CEREBRO_CACHE that is gone afterwards, the peers' store is prepared (and timed) in every
repetition, and the table has the new columns. Takes a few seconds: nothing trains.

  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests
"""
import json
import os
import stat
import subprocess

import pytest
import yaml

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
WORKLOAD = "smoke"  # bench/specs/smoke.yaml

FAKE_CEREBRO = r'''#!/usr/bin/python3
# A stand-in for build/cerebro: logs its arguments and CEREBRO_CACHE, writes what run.sh
# and report.py read.
import json, os, sys, yaml
args = sys.argv[1:]
opt = lambda k: args[args.index(k) + 1] if k in args else None
cache = os.environ.get("CEREBRO_CACHE")
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": "cerebro", "argv": args, "cache": cache,
                        "cache_empty_dir": bool(cache) and os.path.isdir(cache)
                                           and not os.listdir(cache)}) + "\n")
run = yaml.safe_load(open(args[1]))["run"]
if args[0] == "configs":
    print(json.dumps([{"id": 0, "params": {"model": "mlp"}}]))
elif args[0] == "prepare":
    os.makedirs(opt("--out"))
    json.dump({"format_version": 2, "task": "classification", "feature_shape": [4],
               "feature_dtype": "uint8", "feature_scale": 0.5, "num_classes": 3,
               "train": [{"x": "a", "y": "b", "n": 10}], "val": [{"x": "c", "y": "d", "n": 5}]},
              open(os.path.join(opt("--out"), "meta.json"), "w"))
elif args[0] == "run":  # Cerebro's run seed is the spec's
    os.makedirs(opt("--out"))
    json.dump({"seed": run["seed"], "epochs": run["epochs"], "best": None,
               "timing": {"prepare_seconds": 0.01, "train_examples": 10, "state_bytes_moved": 0},
               "models": [{"id": 0, "history": [{"epoch": 1, "val_accuracy": 0.5}]}]},
              open(os.path.join(opt("--out"), "summary.json"), "w"))
'''

FAKE_PEER_PY = r'''#!/usr/bin/python3
# A stand-in for the peers' Python: logs the runner's arguments, writes its result JSON.
import json, os, sys
script, args = os.path.basename(sys.argv[1]), sys.argv[2:]
opt = lambda k, d=None: args[args.index(k) + 1] if k in args else d
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({"prog": script, "argv": args}) + "\n")
json.dump({"system": script, "seed": int(opt("--seed", 2026)),  # the runners' default
           "epochs": int(opt("--epochs")), "train_samples": 10, "exit_wait_seconds": 0.0,
           "per_model": [{"id": 0, "history": [{"epoch": 1, "val_accuracy": 0.5}]}]},
          open(opt("--out"), "w"))
'''


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.mark.parametrize("cache_mode", ["fresh", "off"])
def test_run_sh_passes_the_seed_and_a_fresh_cache(tmp_path, cache_mode):
    spec = yaml.safe_load(open(os.path.join(BENCH, "specs", WORKLOAD + ".yaml")))["run"]
    assert spec["seed"] != 2026  # else a seed that never reaches the peers would not show
    build = tmp_path / "build"
    build.mkdir()
    executable(build / "cerebro", FAKE_CEREBRO)
    executable(build / "cerebro-worker", "#!/bin/sh\nexit 1\n")
    log = tmp_path / "log.jsonl"
    env = dict(os.environ, FAKE_LOG=str(log), BENCH_BUILD=str(build),
               BENCH_PEER_PY=executable(tmp_path / "peer-python", FAKE_PEER_PY),
               BENCH_WORK=str(tmp_path / "work"), BENCH_RESULTS=str(tmp_path / "results"),
               BENCH_CACHE=cache_mode)
    systems = "mop sequential pytorch pytorch_ddp ray_tune"
    r = subprocess.run(["bash", os.path.join(BENCH, "run.sh"), WORKLOAD, "2", systems], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    calls = [json.loads(l) for l in log.read_text().splitlines()]

    peers = [c for c in calls if c["prog"].endswith(".py")]
    assert len(peers) == 2 * 3
    for c in peers:
        argv = c["argv"]
        assert "--seed" in argv and argv[argv.index("--seed") + 1] == str(spec["seed"]), c
        assert argv[argv.index("--epochs") + 1] == str(spec["epochs"]), c

    timed = [c for c in calls if c["prog"] == "cerebro" and c["argv"][0] in ("run", "prepare")]
    prepares = [c for c in timed if c["argv"][0] == "prepare"]
    assert len(prepares) == 2  # once per repetition
    assert all(c["argv"][c["argv"].index("--partitions") + 1] == str(spec["workers"])
               for c in prepares)
    assert len(timed) == 2 + 2 * 2
    if cache_mode == "off":
        assert all(c["cache"] == "off" for c in timed), timed
    else:
        assert all(c["cache_empty_dir"] for c in timed), timed
        caches = [c["cache"] for c in timed]
        assert len(set(caches)) == len(caches)  # a fresh one per timed run
        assert not any(os.path.exists(c) for c in caches)  # and removed afterwards

    [table] = os.listdir(tmp_path / "results")
    text = (tmp_path / "results" / table).read_text()
    for column in ("| prep s |", "| wall without prep s |", "| exit wait s |",
                   "| val acc, last epoch |", "| val acc, best epoch |", "| sampler CPU s |"):
        assert column in text
    assert "failed" not in text
