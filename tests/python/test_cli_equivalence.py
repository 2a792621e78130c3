"""A run from Python equals the CLI's run of the same spec and seed (order fixed): the
metrics files are byte-identical, and the run directories read back alike."""

import subprocess

import numpy as np
import pandas as pd

import cerebro


def test_python_run_equals_cli_run(tmp_path, blobs, cli):
    X, y = blobs
    path = tmp_path / "blobs.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=[f"f{j}" for j in range(8)] + ["label"]).to_csv(
        path, index=False)
    space = {"model": "mlp", "hidden": cerebro.choice([16], [8, 8]),
             "lr": cerebro.choice(1e-2, 3e-3), "batch_size": 32}
    py = cerebro.run(str(path), space, label="label", validation=0.25, epochs=2, workers=2,
                     seed=11, order="fixed", out=tmp_path / "py", quiet=True)
    spec = tmp_path / "py.inputs" / "spec.json"
    proc = subprocess.run([cli, "run", str(spec), "--out", str(tmp_path / "cli"), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for name in ("metrics.csv", "metrics.jsonl"):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    cli_run = cerebro.open(tmp_path / "cli")
    assert cli_run.best.params == py.best.params
    assert cli_run.to_pandas()[["model_id", "val_accuracy"]].equals(
        py.to_pandas()[["model_id", "val_accuracy"]])


def test_run_spec_runs_a_spec_file_as_the_cli(tmp_path, blobs, cli):
    X, y = blobs
    path = tmp_path / "blobs.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=[f"f{j}" for j in range(8)] + ["label"]).to_csv(
        path, index=False)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""name: blobs
data: {{format: csv, train: {path}, validation: {{fraction: 0.25}}}}
params: {{model: mlp, hidden: [8], lr: {{choice: [1.0e-2, 3.0e-3]}}}}
run: {{epochs: 1, workers: 2, seed: 4, order: fixed}}
""")
    py = cerebro.run_spec(spec, out=tmp_path / "py", quiet=True)
    assert py.finished and len(py.models) == 2
    proc = subprocess.run([cli, "run", str(spec), "--out", str(tmp_path / "cli"), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "py" / "metrics.csv").read_bytes() == (tmp_path / "cli" / "metrics.csv").read_bytes()
