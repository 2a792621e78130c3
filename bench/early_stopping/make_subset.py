#!/usr/bin/env python3
"""A small Fashion-MNIST for the early-stopping harness's smoke runs: the first --train
training and --val t10k examples, written as gzip'd IDX files (cached by a stamp file).

usage: bench/early_stopping/make_subset.py [--train 6000] [--val 2000] [--out bench/work/fmnist-small]
"""
import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from make_augmented import SRC, read_idx, write_idx  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--out", default="bench/work/fmnist-small")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp = os.path.join(a.out, f"DONE-train{a.train}-val{a.val}")
    if os.path.exists(stamp):
        return
    for split, n in (("train", a.train), ("t10k", a.val)):
        for kind in ("images-idx3", "labels-idx1"):
            name = f"{split}-{kind}-ubyte.gz"
            write_idx(os.path.join(a.out, name), read_idx(os.path.join(SRC, name))[:n])
    open(stamp, "w").close()
    print(f"{a.out}: {a.train} training and {a.val} validation examples")


if __name__ == "__main__":
    main()
