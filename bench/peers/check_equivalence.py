#!/usr/bin/env python3
"""The peers' equivalence checks (issue 15 item 16), run by bench/peers/smoke.sh; exits
non-zero on any mismatch.

  /usr/bin/python3 bench/peers/check_equivalence.py [--cerebro build/cerebro] [--work DIR]
                                                   [--only data|ddp]

data: the peers decode a uint8 store bit-identically to the floats Cerebro stores.
  Synthetic 8x8 images holding every byte value are written as gzip'd IDX files and, the
  same examples, as a CSV whose features are float32(byte * feature_scale) (the product
  in double, as ByteFeatureValue in src/cerebro/data/partition_store.h). `cerebro prepare`
  makes a uint8 store of the IDX files and a float32 store of the CSV (same seed, same
  partitions: the same shuffle). The uint8 store as the peers read it (common.load_store,
  whole and per rank as pytorch_ddp.py loads it) and decode it (common.rows for training
  batches, common.span for evaluation) must equal the float32 store bit for bit, labels
  too.
ddp: pytorch_ddp.py's gradients equal a single process's. Two gloo ranks on 127.0.0.1
  train the same float64 model on their partitions with pytorch_ddp.step_share's split and
  loss weights (including a partial last step and, with unequal partitions, a rank that
  runs out of examples); after every step each rank's DDP-averaged gradient must equal,
  within 1e-8, the gradient of the mean cross-entropy over the step's global batch
  computed in one process.
"""
import argparse
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import common  # noqa: E402

common.ensure_blas_env()  # as the runners (pytorch_ddp.py, imported by the ranks, checks it)

SCALE = 0.00392156862745098  # the benchmark specs' feature_scale (1 / 255)
GRAD_TOLERANCE = 1e-8


# ---- data --------------------------------------------------------------------------------

def write_idx(path, array):
    """A gzip'd IDX file of a uint8 array (magic 0x0000 08 <rank>, big-endian dims)."""
    import numpy as np
    a = np.ascontiguousarray(array, dtype=np.uint8)
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, a.ndim))
        f.write(struct.pack(">" + "I" * a.ndim, *a.shape))
        f.write(a.tobytes())


def write_csv(path, images, labels):
    import numpy as np
    floats = (images.reshape(len(images), -1).astype(np.float64) * SCALE).astype(np.float32)
    with open(path, "w") as f:
        f.write(",".join(f"p{i}" for i in range(floats.shape[1])) + ",label\n")
        for row, label in zip(floats, labels):
            # %.9g round-trips a float32 exactly.
            f.write(",".join("%.9g" % v for v in row) + f",{int(label)}\n")


def prepare(cerebro, spec_text, work, name):
    spec = os.path.join(work, name + ".yaml")
    with open(spec, "w") as f:
        f.write(spec_text)
    out = os.path.join(work, name + "-store")
    env = dict(os.environ, CEREBRO_CACHE=tempfile.mkdtemp(prefix="cache-", dir=work))
    subprocess.run([cerebro, "prepare", spec, "--out", out, "--partitions", "2"], check=True,
                   stdout=subprocess.DEVNULL, env=env)
    return out


def bits(a):
    import numpy as np
    a = np.ascontiguousarray(a, dtype=np.float32)
    return a.reshape(len(a), -1).view(np.uint32)


def check_data(cerebro, work):
    import numpy as np
    import torch
    rng = np.random.Generator(np.random.PCG64(15))
    n_train, n_val, side = 1200, 300, 8
    images = rng.integers(0, 256, size=(n_train + n_val, side, side), dtype=np.uint8)
    images.reshape(-1)[:256] = np.arange(256)  # every byte value, surely
    labels = rng.integers(0, 10, size=n_train + n_val, dtype=np.uint8)
    labels[:10] = np.arange(10)
    tr, va = slice(0, n_train), slice(n_train, None)
    files = {k: os.path.join(work, k) for k in ("tr-x.gz", "tr-y.gz", "va-x.gz", "va-y.gz",
                                                "tr.csv", "va.csv")}
    write_idx(files["tr-x.gz"], images[tr])
    write_idx(files["tr-y.gz"], labels[tr])
    write_idx(files["va-x.gz"], images[va])
    write_idx(files["va-y.gz"], labels[va])
    write_csv(files["tr.csv"], images[tr], labels[tr])
    write_csv(files["va.csv"], images[va], labels[va])
    tail = ("params: {model: mlp, hidden: [8], batch_size: 32}\n"
            "run: {epochs: 1, workers: 2, seed: 77}\n")
    byte_store = prepare(cerebro, f"""name: eq_idx
data:
  format: idx
  train: {{images: {files['tr-x.gz']}, labels: {files['tr-y.gz']}}}
  validation: {{images: {files['va-x.gz']}, labels: {files['va-y.gz']}}}
  feature_scale: {SCALE!r}
""" + tail, work, "idx")
    float_store = prepare(cerebro, f"""name: eq_csv
data:
  format: csv
  train: {{path: {files['tr.csv']}, header: true, label_column: label}}
  validation: {{path: {files['va.csv']}}}
""" + tail, work, "csv")

    failures = []
    ref = common.load_store(float_store)
    if ref["meta"]["_feature_dtype"] != "float32":
        failures.append(f"the CSV store is {ref['meta']['_feature_dtype']}, not float32")
    got = common.load_store(byte_store)
    if got["meta"]["_feature_dtype"] != "uint8" or got["table"] is None:
        failures.append(f"the IDX store is {got['meta']['_feature_dtype']}, not uint8")
        return failures

    def compare(what, mine, theirs):
        if mine.shape[0] != theirs.shape[0]:
            failures.append(f"{what}: {mine.shape[0]} rows vs {theirs.shape[0]}")
            return
        diff = np.nonzero(np.any(bits(mine) != bits(theirs), axis=1))[0]
        if diff.size:
            failures.append(f"{what}: {diff.size} of {mine.shape[0]} rows differ "
                            f"(first: row {diff[0]})")

    def check_split(label, data, reference):
        t = common.to_tensors(data)
        for split in ("train", "val"):
            x, y = t["x_" + split], t["y_" + split]
            n = int(x.shape[0])
            order = torch.from_numpy(np.random.Generator(np.random.PCG64(3)).permutation(n))
            batch = common.rows(x, order, t["table"]).numpy()  # a training batch
            compare(f"{label} {split} rows()", batch, reference["x_" + split][order.numpy()])
            compare(f"{label} {split} span()", common.span(x, 0, n, t["table"]).numpy(),
                    reference["x_" + split])
            if not np.array_equal(data["y_" + split], reference["y_" + split]):
                failures.append(f"{label} {split}: labels differ")

    check_split("whole store", got, ref)
    for r in range(2):  # pytorch_ddp.py: each rank loads its own partitions
        parts = common.rank_partitions(len(got["meta"]["train"]), r, 2)
        vparts = common.rank_partitions(len(got["meta"]["val"]), r, 2)
        check_split(f"rank {r}", common.load_store(byte_store, parts, vparts),
                    common.load_store(float_store, parts, vparts))
    seen = np.unique(got["x_train"])
    if seen.size != 256:
        failures.append(f"the check covers only {seen.size} of 256 byte values")
    print(f"check_equivalence: data: {n_train} + {n_val} examples, every byte value, "
          f"{'bit-identical' if not failures else 'MISMATCH'} (uint8 store decoded by the "
          f"peers vs Cerebro's float32 store)", flush=True)
    return failures


# ---- DDP gradients -------------------------------------------------------------------------

DDP_PARAMS = {"model": "mlp", "hidden": [6], "activation": "tanh", "optimizer": "sgd",
              "lr": 0.1, "momentum": 0.9, "batch_size": 7}


def ddp_rank(rank, world, port, case, out_dir):
    """One rank: trains with pytorch_ddp's split, and compares each step's gradient with
    the single-process gradient of the same global batch."""
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP
    import pytorch_ddp

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    n_per_rank = case["n_per_rank"]
    rng = np.random.Generator(np.random.PCG64(21))
    x_all = torch.from_numpy(rng.normal(size=(sum(n_per_rank), 5)))
    y_all = torch.from_numpy(rng.integers(0, 3, size=sum(n_per_rank)).astype(np.int64))
    starts = np.cumsum([0] + n_per_rank)
    b = pytorch_ddp.local_batch_sizes(DDP_PARAMS["batch_size"], world)
    steps, global_sizes = pytorch_ddp.step_plan(n_per_rank, b)

    torch.manual_seed(5)
    model = common.build_model(DDP_PARAMS, [5], 3).double()
    torch.manual_seed(5)
    single = common.build_model(DDP_PARAMS, [5], 3).double()
    ddp = DDP(model)
    opt = common.make_optimizer(DDP_PARAMS, ddp.parameters())
    opt_single = common.make_optimizer(DDP_PARAMS, single.parameters())
    worst = 0.0
    for s in range(steps):
        # Every rank's examples of this step, so that each rank can recompute the global
        # batch in one process.
        shares = []
        for r in range(world):
            order = torch.arange(int(starts[r]), int(starts[r + 1]))
            idx, weight = pytorch_ddp.step_share(order, s, b[r], world, global_sizes[s])
            shares.append((idx, weight))
        idx, weight = shares[rank]
        opt.zero_grad()
        out = ddp(x_all.index_select(0, idx))
        (F.cross_entropy(out, y_all.index_select(0, idx), reduction="sum") * weight).backward()

        real = torch.cat([i for i, w in shares if w > 0])
        opt_single.zero_grad()
        F.cross_entropy(single(x_all.index_select(0, real)),
                        y_all.index_select(0, real)).backward()
        if int(real.shape[0]) != global_sizes[s]:
            raise RuntimeError(f"step {s}: {real.shape[0]} examples, plan says {global_sizes[s]}")
        for p, q in zip(model.parameters(), single.parameters()):
            worst = max(worst, float((p.grad - q.grad).abs().max()))
        opt.step()
        opt_single.step()
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump({"rank": rank, "steps": steps, "global_sizes": global_sizes,
                   "max_abs_grad_diff": worst}, f)
    dist.barrier()
    dist.destroy_process_group()


def check_ddp(work):
    import pytorch_ddp
    failures = []
    # Equal partitions with a partial last step; then unequal ones (rank 1 runs out first).
    for case in ({"name": "equal", "n_per_rank": [12, 12]},
                 {"name": "unequal", "n_per_rank": [15, 6]}):
        out_dir = tempfile.mkdtemp(prefix=f"ddp-{case['name']}-", dir=work)
        codes = pytorch_ddp.run_ranks(2, ddp_rank, case, out_dir)
        if any(c != 0 for c in codes):
            failures.append(f"ddp {case['name']}: rank exit codes {codes}")
            continue
        ranks = [json.load(open(os.path.join(out_dir, f"rank{r}.json"))) for r in range(2)]
        worst = max(r["max_abs_grad_diff"] for r in ranks)
        ok = worst <= GRAD_TOLERANCE
        print(f"check_equivalence: ddp {case['name']} partitions {case['n_per_rank']}: "
              f"{ranks[0]['steps']} steps (global batches {ranks[0]['global_sizes']}), max "
              f"|grad DDP - grad single| = {worst:.3g} ({'ok' if ok else 'MISMATCH'}, "
              f"tolerance {GRAD_TOLERANCE:g})", flush=True)
        if not ok:
            failures.append(f"ddp {case['name']}: gradients differ by {worst:.3g}")
    return failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cerebro", default=os.path.join(HERE, "..", "..", "build", "cerebro"))
    ap.add_argument("--work", help="scratch directory (default: a temp dir, removed)")
    ap.add_argument("--only", choices=("data", "ddp"))
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="peers_equivalence_")
    os.makedirs(work, exist_ok=True)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    try:
        failures = []
        if a.only in (None, "data"):
            try:
                failures += check_data(os.path.abspath(a.cerebro), work)
            except subprocess.CalledProcessError as e:
                failures.append(f"data: {' '.join(e.cmd[:2])} failed (exit {e.returncode})")
        if a.only in (None, "ddp"):
            failures += check_ddp(work)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    for f in failures:
        print(f"check_equivalence: FAIL: {f}", file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
