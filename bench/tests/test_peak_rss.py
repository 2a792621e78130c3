"""bench/peers/peak_rss.py (issue 15 item 15): the sampler counts the command's process
tree (orphans it adopts as subreaper included), never reads other processes' command
lines while the command runs, and reports its own CPU.

  /usr/bin/python3 -m pytest -q -p no:cacheprovider bench/tests
"""
import json
import os
import subprocess
import sys

PEAK_RSS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers", "peak_rss.py")
PY = sys.executable
SESSION = "/tmp/ray/session_2099-01-01_00-00-00_000000_1"  # a made-up Ray session


def sample(tmp_path, *cmd):
    out = tmp_path / "mem.json"
    subprocess.run([PY, PEAK_RSS, "--out", str(out), "--linger", "3", "--", *cmd], check=True,
                   stderr=subprocess.DEVNULL)
    return json.loads(out.read_text())


def test_counts_an_orphaned_grandchild(tmp_path):
    # The subshell exits at once; its child (40 MB) is re-parented to the sampler.
    m = sample(tmp_path, "sh", "-c",
               f"({PY} -c 'import time; x = bytearray(40_000_000); time.sleep(1.5)' &); sleep 1")
    assert m["subreaper"]
    assert max(m["peak_rss_by_process"].values()) >= 40_000_000
    assert any(name.startswith("python") for name in m["outlived_command"])


def test_reads_no_other_process_command_line_while_sampling(tmp_path):
    # An unrelated process naming the same Ray session as a member of the tree.
    outsider = subprocess.Popen([PY, "-c", "import time; time.sleep(60)", SESSION])
    try:
        m = sample(tmp_path, PY, "-c", "import time; time.sleep(1.5)", SESSION)
    finally:
        outsider.kill()
        outsider.wait()
    assert m["samples"] >= 10
    # One read per member when it joins, a few renamings: not one per process per sample.
    assert m["cmdline_reads"] <= 4 * m["max_processes"] + 4, m["cmdline_reads"]
    assert all(f"/{outsider.pid}" not in k for k in m["peak_rss_by_process"])
    # The session is checked once, after the command: the outsider is reported.
    assert m["ray_session_dirs"] == [SESSION]
    assert [p["pid"] for p in m["escaped_processes"]] == [outsider.pid]


def test_reports_its_own_cpu(tmp_path):
    m = sample(tmp_path, PY, "-c", "import time; time.sleep(1.0)")
    assert 0 < m["sampler_cpu_seconds"] < m["wall_seconds"]
    assert m["sampler_cpu_seconds_with_linger"] >= m["sampler_cpu_seconds"]


def test_a_process_that_renamed_itself_goes_by_its_name(tmp_path):
    # As a worker forked from Cerebro's fork server: the driver's command line, its own comm.
    m = sample(tmp_path, PY, "-c",
               "import ctypes, time; ctypes.CDLL(None).prctl(15, b'cerebro-worker', 0, 0, 0); "
               "x = bytearray(30_000_000); time.sleep(1.5)")
    assert any(k.startswith("cerebro-worker/") for k in m["peak_rss_by_process"]), m
