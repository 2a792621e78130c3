"""`cerebro export` seen from Python: a small real run on a Fashion-MNIST subset (IDX,
8-bit pixels, feature_scale 1/255), exported, loaded with torch.jit.load (Debian's
python3-torch: the same LibTorch), run on the run's validation data as raw bytes, must
reproduce the run's recorded validation accuracy within 0.1 points; so must the script
in docs/export.md. Run by ctest with /usr/bin/python3 (tests/CMakeLists.txt):
    export_test.py --cerebro BUILD/cerebro
Skips (exit 77) when Fashion-MNIST is not installed."""
import argparse
import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch

BASE = "/usr/share/datasets/fashion-mnist/"


def write_idx_subset(src, dst, count):
    """The first `count` items of a gzip'd IDX file, as a gzip'd IDX file."""
    raw = gzip.open(src).read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    item = int(np.prod(dims[1:])) if ndim > 1 else 1
    header = raw[:4] + count.to_bytes(4, "big") + raw[8:4 + 4 * ndim]
    body = raw[4 + 4 * ndim:4 + 4 * ndim + count * item]
    with gzip.open(dst, "wb") as f:
        f.write(header + body)


def spec(tmp):
    files = {}
    for name, count in (("train", 3000), ("t10k", 1000)):
        for kind, stem in (("images", "idx3"), ("labels", "idx1")):
            dst = os.path.join(tmp, f"{name}-{kind}.gz")
            write_idx_subset(f"{BASE}{name}-{kind}-{stem}-ubyte.gz", dst, count)
            files[name, kind] = dst
    return f"""name: export_py
data:
  format: idx
  train: {{images: {files['train', 'images']}, labels: {files['train', 'labels']}}}
  validation: {{images: {files['t10k', 'images']}, labels: {files['t10k', 'labels']}}}
  feature_scale: 0.00392156862745098
params:
  model: {{choice: [mlp, cnn]}}
  hidden: {{when: {{model: mlp}}, value: [32]}}
  conv_channels: {{when: {{model: cnn}}, value: [4]}}
  dense: {{when: {{model: cnn}}, value: [16]}}
  optimizer: adam
  lr: 0.003
  batch_size: 64
run:
  epochs: 2
  workers: 2
  order: fixed
  seed: 3
"""


def cerebro(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"cerebro {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
    return r.stdout


def docs_script(doc_path):
    """The Python block of docs/export.md."""
    text = open(doc_path).read()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "docs/export.md has no python block"
    return block.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cerebro", required=True)
    ap.add_argument("--docs", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                  "export.md"))
    args = ap.parse_args()
    if not os.path.exists(BASE + "train-images-idx3-ubyte.gz"):
        print("Fashion-MNIST not installed at " + BASE)
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "spec.yaml"), "w") as f:
            f.write(spec(tmp))
        run = os.path.join(tmp, "run")
        cerebro(args.cerebro, "run", os.path.join(tmp, "spec.yaml"), "--out", run, "--quiet")
        summary = json.load(open(os.path.join(run, "summary.json")))
        best = summary["best"]["model_id"]
        recorded = summary["best"]["value"]

        failures = []
        for model in summary["models"]:
            mid = model["id"]
            out = os.path.join(tmp, f"model{mid}.pt")
            args_model = [] if mid == best else ["--model", str(mid)]
            cerebro(args.cerebro, "export", run, "--out", out, *args_model)
            extra = {"cerebro.json": ""}
            m = torch.jit.load(out, _extra_files=extra)
            meta = json.loads(extra["cerebro.json"])
            assert meta["model_id"] == mid, meta
            assert meta["feature_shape"] == [1, 28, 28], meta
            assert abs(meta["input_scale"] - 1 / 255) < 1e-12, meta
            # The run's validation examples as the store holds them: raw bytes (IDX).
            x = np.concatenate([np.load(p) for p in sorted(glob.glob(f"{run}/data/val_*.x.npy"))])
            y = np.concatenate([np.load(p) for p in sorted(glob.glob(f"{run}/data/val_*.y.npy"))])
            assert x.dtype == np.uint8, x.dtype
            with torch.no_grad():
                acc = (m(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
                flat = (m(torch.from_numpy(x).reshape(len(x), -1).float()).argmax(1).numpy()
                        == y).mean()
            want = model["history"][-1]["val_accuracy"]
            print(f"model {mid} ({meta['family']}): torch.jit {acc:.4f}, run {want:.4f}")
            if abs(acc - want) > 0.001 or acc != flat:
                failures.append(f"model {mid}: {acc} (flat {flat}) vs recorded {want}")

        # predict on the validation files themselves (IDX: --labels): the same accuracy.
        preds = os.path.join(tmp, "preds.csv")
        said = cerebro(args.cerebro, "predict", run, "--data", os.path.join(tmp, "t10k-images.gz"),
                       "--labels", os.path.join(tmp, "t10k-labels.gz"), "--out", preds)
        predicted = float(re.search(r"accuracy ([0-9.]+)", said).group(1))
        print(f"predict: {predicted:.4f}, run {recorded:.4f}")
        if abs(predicted - recorded) > 0.001 or sum(1 for _ in open(preds)) != 1001:
            failures.append(f"predict said {said!r}; the run recorded {recorded}")

        # The docs' five lines, with RUN_DIR and model.pt pointing at this run.
        script = docs_script(args.docs).replace("RUN_DIR", run).replace(
            "model.pt", os.path.join(tmp, f"model{best}.pt"))
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        if r.returncode != 0:
            failures.append("docs script failed: " + r.stderr)
        else:
            printed = float(r.stdout.split()[-1])
            print(f"docs script: {printed:.4f}, run {recorded:.4f}")
            if abs(printed - recorded) > 0.001:
                failures.append(f"docs script printed {printed}, the run recorded {recorded}")
        if failures:
            print("\n".join(failures))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
