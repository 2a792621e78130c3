#!/usr/bin/env python3
"""A small Fashion-MNIST for the PBT benchmark's smoke runs (bench/pbt/run.sh with
WORKLOAD=pbt_smoke): the first --train training images and the first --val t10k images,
written as gzip'd IDX files that Cerebro reads like the originals. Cached: re-running with
the same sizes does nothing.

usage: bench/pbt/make_subset.py [--train 3000] [--val 1000] [--out bench/work/fmnist-small]
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from make_augmented import SRC, read_idx, write_idx  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "..", "work", "fmnist-small"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp = os.path.join(a.out, "SIZES")
    want = f"{a.train} {a.val}\n"
    if os.path.exists(stamp) and open(stamp).read() == want:
        return
    for split, n in (("train", a.train), ("t10k", a.val)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            write_idx(os.path.join(a.out, name), read_idx(os.path.join(SRC, name))[:n])
    with open(stamp, "w") as f:
        f.write(want)


if __name__ == "__main__":
    main()
