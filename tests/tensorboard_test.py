"""TensorBoard files read back by the `tensorboard` package itself.

A small fixed-order run (4 MLPs, 2 epochs), then a resume of it (summary.json removed); every event
file is loaded with tensorboard's EventAccumulator (which checks each record's masked
CRC-32C) and the hparams plugin's metadata parser, and every scalar is compared with
metrics.csv at float32 precision (TensorBoard scalars are float32). Run by ctest when the
test virtualenv (.venv-test, made by scripts/setup.sh) exists:

  .venv-test/bin/python tests/tensorboard_test.py --cerebro build/cerebro
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

import numpy as np
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import api_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata

CEREBRO = None  # set from --cerebro
SCALAR_COLUMNS = {
    "train/loss": "train_loss",
    "train/accuracy": "train_accuracy",
    "val/loss": "val_loss",
    "val/accuracy": "val_accuracy",
}


def write_blobs_csv(path, rows, seed=1):
    """3 well-separated Gaussian classes in 8 features (like tests/test_data.cc's blobs)."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write(",".join("f%d" % i for i in range(8)) + ",label\n")
        for r in range(rows):
            label = r % 3
            f.write(",".join("%.5f" % (rng.gauss(3.0 * label, 1.0)) for _ in range(8)))
            f.write(",%d\n" % label)


def spec_text(csv_path, lrs="0.01, 0.003"):
    return (
        "name: small\n"
        "data:\n"
        "  format: csv\n"
        "  train: {path: %s, header: true, label_column: label}\n"
        "  validation: {fraction: 0.25}\n"
        "params:\n"
        "  model: mlp\n"
        "  hidden: {choice: [[16], [32, 16]]}\n"
        "  optimizer: adam\n"
        "  lr: {choice: [%s]}\n"
        "  batch_size: 32\n"
        "run:\n"
        "  epochs: 2\n"
        "  workers: 2\n"
        "  seed: 5\n"
        "  order: fixed\n" % (csv_path, lrs)
    )


def cerebro(*args):
    r = subprocess.run([CEREBRO, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("cerebro %s: exit %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr))


def load(run_dir):
    acc = event_accumulator.EventAccumulator(run_dir, size_guidance={event_accumulator.SCALARS: 0,
                                                                     event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def hparams_content(acc):
    return acc.PluginTagToContent(hparams_metadata.PLUGIN_NAME)


def read_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    by_model = {}
    for row in rows:
        by_model.setdefault(int(row["model_id"]), []).append(row)
    return by_model


class TensorBoardFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="cerebro_tb_")
        csv_path = os.path.join(cls.tmp.name, "blobs.csv")
        write_blobs_csv(csv_path, 300)
        spec = os.path.join(cls.tmp.name, "spec.yaml")
        with open(spec, "w") as f:
            f.write(spec_text(csv_path))
        cls.run_dir = os.path.join(cls.tmp.name, "out")
        cerebro("run", spec, "--out", cls.run_dir, "--quiet")
        cls.metrics = read_metrics(cls.run_dir)
        with open(os.path.join(cls.run_dir, "summary.json")) as f:
            cls.summary = json.load(f)
        cls.tb = os.path.join(cls.run_dir, "tensorboard")
        # The files as the first process left them, before the resume adds runs.
        cls.first_runs = sorted(os.listdir(cls.tb))
        # As if the driver had died after the last journal record, before summary.json:
        # the resume replays the whole journal and finishes the run without training.
        os.remove(os.path.join(cls.run_dir, "summary.json"))
        cerebro("resume", cls.run_dir, "--quiet")
        cls.resumed_metrics = read_metrics(cls.run_dir)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def model_ids(self):
        return sorted(m["id"] for m in self.summary["models"])

    def check_model_run(self, model_id, run_name):
        acc = load(os.path.join(self.tb, run_name))
        rows = self.metrics[model_id]
        for tag, column in SCALAR_COLUMNS.items():
            events = acc.Scalars(tag)
            self.assertEqual([e.step for e in events], [int(r["epoch"]) for r in rows], tag)
            for e, r in zip(events, rows):
                self.assertEqual(np.float32(e.value), np.float32(float(r[column])),
                                 "%s %s epoch %s" % (run_name, tag, r["epoch"]))
        seconds = acc.Scalars("unit_seconds")
        rates = acc.Scalars("examples_per_second")
        self.assertEqual(len(seconds), len(rows))
        for s, x, r in zip(seconds, rates, rows):
            self.assertGreater(s.value, 0)
            examples = int(r["train_examples"]) + int(r["val_examples"])
            self.assertAlmostEqual(x.value * s.value / examples, 1.0, places=4)

        params = next(m["params"] for m in self.summary["models"] if m["id"] == model_id)
        rates = acc.Scalars("learning_rate")
        self.assertEqual([e.step for e in rates], [int(r["epoch"]) for r in rows])
        for e in rates:
            self.assertEqual(np.float32(e.value), np.float32(params["lr"]))

        content = hparams_content(acc)
        start = hparams_metadata.parse_session_start_info_plugin_data(
            content[hparams_metadata.SESSION_START_INFO_TAG])
        self.assertEqual(set(start.hparams), set(params))
        self.assertEqual(start.hparams["lr"].number_value, params["lr"])
        self.assertEqual(start.hparams["model"].string_value, params["model"])
        self.assertEqual(start.hparams["hidden"].string_value, json.dumps(params["hidden"],
                                                                          separators=(",", ":")))
        self.assertEqual(start.group_name, "model_%04d" % model_id)
        end = hparams_metadata.parse_session_end_info_plugin_data(
            content[hparams_metadata.SESSION_END_INFO_TAG])
        self.assertEqual(end.status, api_pb2.STATUS_SUCCESS)

    def test_every_model_has_its_own_run_whose_scalars_equal_metrics_csv(self):
        self.assertEqual(self.first_runs[0].startswith("events.out.tfevents."), True)
        self.assertEqual([r for r in self.first_runs if not r.startswith("events.")],
                         ["model_%04d" % i for i in self.model_ids()])
        for i in self.model_ids():
            self.check_model_run(i, "model_%04d" % i)

    def test_a_resumed_run_writes_new_runs_with_the_same_scalars(self):
        self.assertEqual(self.resumed_metrics, self.metrics)
        for i in self.model_ids():
            self.assertTrue(os.path.isdir(os.path.join(self.tb, "model_%04d.resume1" % i)))
            self.check_model_run(i, "model_%04d.resume1" % i)

    def test_experiment_summary_names_the_hparams_and_metrics_once(self):
        acc = load(self.tb)
        experiment = hparams_metadata.parse_experiment_plugin_data(
            hparams_content(acc)[hparams_metadata.EXPERIMENT_TAG])
        infos = {h.name: h for h in experiment.hparam_infos}
        self.assertEqual(set(infos), set(self.summary["models"][0]["params"]))
        self.assertEqual(infos["lr"].type, api_pb2.DATA_TYPE_FLOAT64)
        self.assertEqual(sorted(v.number_value for v in infos["lr"].domain_discrete.values),
                         [0.003, 0.01])
        self.assertEqual(infos["optimizer"].type, api_pb2.DATA_TYPE_STRING)
        self.assertEqual({m.name.tag for m in experiment.metric_infos},
                         set(SCALAR_COLUMNS))
        # The resume did not add a second experiment file.
        self.assertEqual(len([f for f in os.listdir(self.tb) if f.startswith("events.")]), 1)


class FailedModelTest(unittest.TestCase):
    def test_a_model_that_fails_ends_its_session_as_a_failure(self):
        with tempfile.TemporaryDirectory(prefix="cerebro_tb_") as tmp:
            csv_path = os.path.join(tmp, "blobs.csv")
            write_blobs_csv(csv_path, 300)
            spec = os.path.join(tmp, "spec.yaml")
            with open(spec, "w") as f:
                f.write(spec_text(csv_path, lrs="0.01, 1.0e+30"))  # 1e30: non-finite loss
            run_dir = os.path.join(tmp, "out")
            cerebro("run", spec, "--out", run_dir, "--quiet")
            with open(os.path.join(run_dir, "summary.json")) as f:
                models = json.load(f)["models"]
            expected = {"completed": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE}
            self.assertEqual({m["status"] for m in models}, set(expected))
            for m in models:
                acc = load(os.path.join(run_dir, "tensorboard", "model_%04d" % m["id"]))
                end = hparams_metadata.parse_session_end_info_plugin_data(
                    hparams_content(acc)[hparams_metadata.SESSION_END_INFO_TAG])
                self.assertEqual(end.status, expected[m["status"]], m)
                self.assertEqual(len(acc.Tags()["scalars"]) > 0, m["status"] == "completed", m)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cerebro", required=True)
    args, rest = parser.parse_known_args()
    CEREBRO = os.path.abspath(args.cerebro)
    unittest.main(argv=[sys.argv[0], *rest], verbosity=2)
