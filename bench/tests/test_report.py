"""bench/report.py on made-up runs (issue 15 items 11-14): preparation in both walls (and
prepared from scratch), Ray Tune's exit wait out of the ratio, one accuracy definition for
every system, the spec's seed and workers.

  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import report  # noqa: E402

SEED, EPOCHS, WORKERS = 7, 2, 3
# Last epoch 0.80 (model 1), best epoch 0.90 (model 0's first): the two definitions differ.
HISTORIES = [[{"epoch": 1, "val_accuracy": 0.90}, {"epoch": 2, "val_accuracy": 0.70}],
             [{"epoch": 1, "val_accuracy": 0.60}, {"epoch": 2, "val_accuracy": 0.80}]]


def write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def mem(wall, sampler_cpu=0.25):
    return {"wall_seconds": wall, "peak_tree_rss_bytes": 10**9, "peak_tree_pss_bytes": 5 * 10**8,
            "peak_rss_by_process": {"cerebro-worker/2": 3 * 10**8, "cerebro/1": 10**8},
            "sampler_cpu_seconds": sampler_cpu, "samples": 100}


def make_work(tmp, peer_seed=SEED, ray_exit_wait=15.0):
    """A work directory as bench/run.sh leaves it: workload "wl", one repetition of mop,
    task and ray_tune."""
    work = str(tmp)
    os.makedirs(work)
    spec = os.path.join(work, "wl.yaml")
    with open(spec, "w") as f:
        f.write(f"name: wl\nrun: {{epochs: {EPOCHS}, workers: {WORKERS}, seed: {SEED}}}\n")
    store = os.path.join(work, "wl-store-1")
    os.makedirs(store)
    write(os.path.join(store, "meta.json"),
          {"format_version": 2, "task": "classification", "feature_shape": [4],
           "feature_dtype": "uint8", "feature_scale": 0.5, "num_classes": 3,
           "train": [{"x": "a", "y": "b", "n": 100}], "val": [{"x": "c", "y": "d", "n": 50}]})
    for strategy in ("mop", "task"):
        run = os.path.join(work, f"wl-{strategy}-1")
        os.makedirs(run)
        write(os.path.join(run, "summary.json"), {
            "seed": SEED, "epochs": EPOCHS,
            # What Cerebro ranks by is not what the table shows: it shows the histories.
            "best": {"model_id": 1, "value": 0.123},
            "timing": {"prepare_seconds": 2.0, "train_examples": 800, "state_bytes_moved": 10**6},
            "models": [{"id": i, "history": h} for i, h in enumerate(HISTORIES)]})
        write(run + ".mem.json", mem(10.0))
    write(os.path.join(work, "wl-prep-1.mem.json"), mem(3.0))
    write(os.path.join(work, "wl-ray_tune-1.json"), {
        "system": "ray_tune", "seed": peer_seed, "epochs": EPOCHS, "train_samples": 800,
        "exit_wait_seconds": ray_exit_wait, "data_bytes_held": 1200,
        "per_model": [{"id": i, "history": h} for i, h in enumerate(HISTORIES)]})
    write(os.path.join(work, "wl-ray_tune-1.mem.json"), mem(30.0, sampler_cpu=0.5))
    return work, spec, store


def table(text):
    """{system: {column: cell}} of the rendered markdown table."""
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return {cells[0]: dict(zip(head, cells)) for cells in
            ([c.strip() for c in l.strip("|").split("|")] for l in lines[1:])}


def run_report(work, spec, store, tmp_results):
    rc = report.main(["--work", work, "--workload", "wl", "--repeats", "1",
                      "--systems", "mop task ray_tune", "--store", store, "--spec", spec,
                      "--command", "test", "--results-dir", tmp_results])
    out = [f for f in os.listdir(tmp_results) if f.endswith("-wl.md")]
    with open(os.path.join(tmp_results, out[0])) as f:
        return rc, f.read()


def test_walls_with_and_without_preparation(tmp_path):
    work, spec, store = make_work(tmp_path / "w")
    rc, text = run_report(work, spec, store, str(tmp_path / "r"))
    assert rc == 0
    t = table(text)
    # Cerebro prepares inside its timed process: its own record is subtracted.
    assert (t["mop"]["prep s"], t["mop"]["wall s"], t["mop"]["wall without prep s"]) == \
        ("2.0", "10.0", "8.0")
    # The peer's store was prepared before its run (3 s): added to its wall; the 15 s exit
    # wait is shown and left out of both walls and the ratio.
    ray = t["ray_tune"]
    assert (ray["prep s"], ray["exit wait s"], ray["wall s"], ray["wall without prep s"]) == \
        ("3.0", "15.0", "18.0", "15.0")
    assert ray["wall vs MOP"] == "1.80x"
    assert t["mop"]["exit wait s"] == "-"
    assert "'wall vs MOP' is the ratio of 'wall s'" in text


def test_one_accuracy_definition_for_every_system(tmp_path):
    work, spec, store = make_work(tmp_path / "w")
    _, text = run_report(work, spec, store, str(tmp_path / "r"))
    for s in ("mop", "task", "ray_tune"):
        row = table(text)[s]
        assert (row["val acc, last epoch"], row["val acc, best epoch"]) == ("0.8000", "0.9000"), s


def test_workers_come_from_the_spec(tmp_path):
    work, spec, store = make_work(tmp_path / "w")
    _, text = run_report(work, spec, store, str(tmp_path / "r"))
    t = table(text)
    one_copy = (100 + 50) * (4 + 8)  # uint8 features, int64 labels
    assert t["task"]["data held MB"] == f"{WORKERS * one_copy / 1e6:,.0f}"
    rows, _, workers = report.collect(work, "wl", 1, ["mop", "task"], store, spec)
    assert workers == WORKERS
    assert rows["task"][0]["held"] == WORKERS * rows["mop"][0]["held"]
    assert f"{WORKERS} parallel workers" in text


def test_a_peer_run_with_another_seed_is_an_error(tmp_path):
    work, spec, store = make_work(tmp_path / "w", peer_seed=2026)
    rc, text = run_report(work, spec, store, str(tmp_path / "r"))
    assert rc == 1
    assert table(text)["ray_tune"]["prep s"] == "failed"
    _, problems, _ = report.collect(work, "wl", 1, ["ray_tune"], store, spec)
    assert any("seed 2026, the spec says 7" in p for p in problems)


def test_sampler_cpu_is_shown_per_system(tmp_path):
    work, spec, store = make_work(tmp_path / "w")
    _, text = run_report(work, spec, store, str(tmp_path / "r"))
    t = table(text)
    assert (t["mop"]["sampler CPU s"], t["ray_tune"]["sampler CPU s"]) == \
        ("0.25 (2.5 ms/sample)", "0.50 (5.0 ms/sample)")


def test_a_store_from_the_cache_is_an_error(tmp_path):
    work, spec, store = make_work(tmp_path / "w")
    with open(os.path.join(work, "wl-mop-1.log"), "w") as f:
        f.write("data: reused prepared store 0123456789abcdef (0.0 s)\n")
    with open(os.path.join(work, "wl-prep-1.log"), "w") as f:
        f.write("data: prepared store 0123456789abcdef (2.3 s)\n")
    rc, text = run_report(work, spec, store, str(tmp_path / "r"))
    assert rc == 1
    t = table(text)
    assert t["mop"]["prep s"] == "failed" and t["ray_tune"]["prep s"] == "3.0"
    with open(os.path.join(work, "wl-prep-1.log"), "w") as f:
        f.write("data: reused prepared store 0123456789abcdef (0.0 s)\n")
    _, problems, _ = report.collect(work, "wl", 1, ["ray_tune"], store, spec)
    assert any("reused prepared store" in p for p in problems)
