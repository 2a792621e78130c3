"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) stops a run from
Python cleanly: KeyboardInterrupt, a resumable run directory; resume() finishes it with
the metrics of an uninterrupted run (order fixed)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import cerebro

SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import cerebro
    from conftest import make_blobs
    X, y = make_blobs(4000, seed=2)
    try:
        cerebro.run((X, y), {space!r}, epochs={epochs}, workers=2, seed=5, order="fixed",
                    out={out!r}, quiet=True)
    except KeyboardInterrupt as e:
        print("INTERRUPTED", e)
        sys.exit(3)
    print("FINISHED")
""")
SPACE = {"model": "mlp", "hidden": [64, 64], "lr": {"choice": [1e-2, 3e-3, 1e-3]},
         "batch_size": 16}


def _lines(path):
    try:
        with open(path) as f:
            return f.read().count("\n")
    except FileNotFoundError:
        return 0


def _run_script(tmp_path, out, epochs=6):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__), space=SPACE, out=str(out),
                                    epochs=epochs))
    return subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_ctrl_c_then_resume(tmp_path):
    out = tmp_path / "run"
    proc = _run_script(tmp_path, out)
    deadline = time.monotonic() + 120
    # Wait until some epochs are on disk (header + 1 row), then press Ctrl-C.
    while _lines(out / "metrics.csv") < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, (stdout, stderr)
    assert "INTERRUPTED" in stdout and "cerebro.resume(" in stdout
    interrupted = cerebro.open(out)
    assert not interrupted.finished
    done = cerebro.resume(out, quiet=True)
    assert done.finished
    assert list(done.to_pandas()["status"]) == ["completed"] * 3
    assert set(done.to_pandas()["epochs"]) == {6}
    # The same run uninterrupted: identical metrics.
    X_dir = tmp_path / "whole"
    sys.path.insert(0, os.path.dirname(__file__))
    from conftest import make_blobs
    X, y = make_blobs(4000, seed=2)
    whole = cerebro.run((X, y), SPACE, epochs=6, workers=2, seed=5, order="fixed", out=X_dir,
                        quiet=True)
    assert (out / "metrics.csv").read_bytes() == (X_dir / "metrics.csv").read_bytes()
    assert whole.best.params == done.best.params


def test_cerebro_ctl_steers_a_python_run(tmp_path, cli):
    out = tmp_path / "run"
    # Long enough (~5 s of training here) that the run is still going when `cerebro ctl`
    # (a process that loads LibTorch first) connects: 6 epochs took ~1 s.
    proc = _run_script(tmp_path, out, epochs=100)
    deadline = time.monotonic() + 120
    while not (out / "control").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    ctl = subprocess.run([cli, "ctl", str(out), "stop", "2"], capture_output=True, text=True)
    assert ctl.returncode == 0, ctl.stdout + ctl.stderr
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "FINISHED" in stdout, (stdout, stderr)
    statuses = dict(zip(cerebro.open(out).to_pandas()["model_id"],
                        cerebro.open(out).to_pandas()["status"]))
    assert statuses == {0: "completed", 1: "completed", 2: "stopped"}
    assert not (out / "control").exists()  # the control socket goes with the run
