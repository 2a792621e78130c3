#!/usr/bin/env python3
"""Augmented Fashion-MNIST for the benchmarks: the 60,000 training images plus seeded
random variants (shifts of up to 2 pixels in each direction, horizontal flips), written
once as gzip'd IDX files that Cerebro reads like the originals. The t10k set is copied
unchanged for validation. Cached: re-running with the same --copies and --seed does
nothing.

usage: bench/make_augmented.py [--copies 5] [--seed 2026] [--out bench/work/fmnist-aug]
--copies 5 gives 300,000 training examples (the original + 4 augmented copies).
"""
import argparse
import gzip
import os
import struct
import sys

import numpy as np

SRC = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not a ubyte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    tmp = path + ".tmp"
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        f.write(header)
        f.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
    os.replace(tmp, path)


def augment(images, rng):
    n = images.shape[0]
    out = np.zeros_like(images)
    dx = rng.integers(-2, 3, size=n)
    dy = rng.integers(-2, 3, size=n)
    flip = rng.random(n) < 0.5
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    for i in range(n):
        img = padded[i, 2 + dy[i]:30 + dy[i], 2 + dx[i]:30 + dx[i]]
        out[i] = img[:, ::-1] if flip[i] else img
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default="bench/work/fmnist-aug")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    stamp = os.path.join(a.out, f"DONE-copies{a.copies}-seed{a.seed}")
    if os.path.exists(stamp):
        print(f"{a.out}: cached ({a.copies * 60000} training examples)")
        return
    images = read_idx(f"{SRC}/train-images-idx3-ubyte.gz")
    labels = read_idx(f"{SRC}/train-labels-idx1-ubyte.gz")
    rng = np.random.default_rng(a.seed)
    all_images = [images] + [augment(images, rng) for _ in range(a.copies - 1)]
    write_idx(f"{a.out}/train-images-idx3-ubyte.gz", np.concatenate(all_images))
    write_idx(f"{a.out}/train-labels-idx1-ubyte.gz", np.tile(labels, a.copies))
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        write_idx(f"{a.out}/{name}", read_idx(f"{SRC}/{name}"))
    open(stamp, "w").close()
    print(f"{a.out}: wrote {a.copies * 60000} training examples")


if __name__ == "__main__":
    main()
