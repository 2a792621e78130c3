#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small, generated here; no
third-party data). Re-run after changing it: python3 fuzz/make_seeds.py"""
import gzip
import io
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(dims, payload):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(payload)


def npy(dtype, shape, payload, major=1, dict_text=None):
    if dict_text is None:
        shape_s = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        dict_text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (dtype, shape_s)
    prefix = 10 if major == 1 else 12
    total = prefix + len(dict_text) + 1
    padded = (total + 63) // 64 * 64
    header = dict_text + " " * (padded - total) + "\n"
    out = b"\x93NUMPY" + bytes([major, 0])
    out += struct.pack("<H" if major == 1 else "<I", len(header))
    return out + header.encode() + payload


def gz(data, **kw):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, **kw) as f:
        f.write(data)
    return buf.getvalue()


def spec_seeds():
    base = """name: demo
task: classification
data:
  format: idx
  train: {images: /d/train-images.gz, labels: /d/train-labels.gz}
  validation: {images: /d/t10k-images.gz, labels: /d/t10k-labels.gz}
  feature_scale: 0.00392156862745098
params:
  model: mlp
  hidden: [1000, 500]
  lr: {choice: [1.0e-3, 1.0e-4]}
  weight_decay: {choice: [1e-4, 1e-5]}
  batch_size: 128
search:
  method: grid
metric: {name: accuracy, direction: max}
run:
  epochs: 5
  workers: 2
  strategy: mop
  order: fixed
  seed: 7
  threads_per_worker: 1
  max_unit_retries: 2
  backend: local
"""
    put("spec_fuzz", "idx_grid.yaml", base)
    put("spec_fuzz", "random.yaml", """name: rnd
task: regression
data:
  format: csv
  train: {path: train.csv, header: true, label_column: price, delimiter: ";"}
  validation: {fraction: 0.2}
params:
  model: mlp
  lr: {loguniform: [-4, -2]}
  dropout: {uniform: [0.0, 0.5]}
  batch_size: {quniform: [32, 256, 32]}
  wd: {qloguniform: [-6, -3, 1]}
  act: {choice: [relu, "tanh", 'gelu', true, null, ~, 3, -1.5e3]}
search: {method: random, num_models: 8}
metric: loss
run: {epochs: 2, workers: 3, backend: ray, ray_address: "127.0.0.1:6379", strategy: task}
""")
    put("spec_fuzz", "libsvm.json",
        '{"data": {"format": "libsvm", "train": {"path": "a.svm", "num_features": 123},'
        ' "validation": "b.svm"}, "params": {"model": "mlp", "h": [[1, 2], {"a": 1}]},'
        ' "run": {"seed": 18446744073709551615}}')
    put("spec_fuzz", "anchors.yaml", """data:
  format: csv
  train: &t {path: x.csv}
  validation: *t
params:
  model: &m mlp
  other: *m
  list: &l [1, 2, 3]
  nested: [*l, *l]
""")
    put("spec_fuzz", "scalars.yaml", """data: {format: csv, train: t.csv, validation: v.csv}
params:
  model: mlp
  a: .inf
  b: -.inf
  c: .nan
  d: nan
  e: 1e999
  f: 0x1F
  g: 0o17
  h: "quoted"
  i: |
    block
  j: >-
    folded
  k: !!str 12
  l: 2001-12-14
  "m": 9223372036854775808
""")
    put("spec_fuzz", "deep.yaml", "params: {model: " + "[" * 60 + "]" * 60 + "}\n")
    put("spec_fuzz", "multidoc.yaml", "---\na: 1\n...\n---\nb: 2\n")


def idx_seeds():
    # Byte 0 even: labels derived from the images header; odd: explicit labels file.
    imgs3 = idx([3, 2, 2], range(12))
    imgs2 = idx([2, 5], [0, 255, 7, 8, 9, 1, 2, 3, 4, 5])
    put("idx_fuzz", "rank3_derived", b"\x00" + imgs3)
    put("idx_fuzz", "rank2_scaled", b"\x02" + imgs2)
    put("idx_fuzz", "rank4_derived", b"\x04" + idx([2, 1, 2, 2], range(8)))
    labels = idx([3], [1, 0, 9])
    put("idx_fuzz", "explicit_labels", b"\x01" + struct.pack("<H", len(labels)) + labels + imgs3)
    put("idx_fuzz", "zero_images", b"\x00" + idx([0, 28, 28], []))
    put("idx_fuzz", "header_only", b"\x00" + bytes([0, 0, 8, 3]) + struct.pack(">III", 60000, 28, 28))


def csv_seeds():
    # Byte 0: bit0 header, bit1 regression, bits2-4 delimiter index, bits5-7 label column.
    put("csv_fuzz", "header_last", b"\x01\x00" + b"a,b,label\n1,2,0\n3.5,-4e2,1\n\n")
    put("csv_fuzz", "noheader_idx0_semicolon", bytes([0 | (1 << 2) | (1 << 5), 1]) + b"0;1;2\r\n1;+3;4\r\n")
    put("csv_fuzz", "regression_tab", bytes([1 | 2 | (2 << 2), 2]) + b"x\ty\n0.5\t1e-3\n-1\t2.25\n")
    put("csv_fuzz", "named_label", bytes([1 | (4 << 5), 0]) + b"'f1',\"label\",f3\n1,2,3\n4,5,6\n")
    put("csv_fuzz", "bad_rows", b"\x01\x00" + b"a,b\n1\n1,2,3\nnan,1\ninf,0\n1,-1\n")


def libsvm_seeds():
    # Byte 0: bit0 regression, bits1-3 num_features index; byte 1: scale index.
    put("libsvm_fuzz", "basic", b"\x00\x00" + b"1 1:0.5 3:2\n0 2:-1 # comment\n2 \n")
    put("libsvm_fuzz", "regression", b"\x01\x01" + b"0.25 1:1 2:2\n-3.5 2:1e3\n")
    put("libsvm_fuzz", "fixed_width", bytes([3 << 1, 0]) + b"1 1:1 10:1\n0 5:0\n")
    put("libsvm_fuzz", "wide", b"\x00\x00" + b"1 999999:1\n")
    put("libsvm_fuzz", "bad", b"\x00\x00" + b"-1 0:1 2:x 1:1\n")


def npy_seeds():
    put("npy_fuzz", "f4_2x3", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
    put("npy_fuzz", "i8_vec", npy("<i8", [4], struct.pack("<4q", 0, 1, -1, 2**62)))
    put("npy_fuzz", "v2_scalar", npy("<f4", [], struct.pack("<f", 1.5), major=2))
    put("npy_fuzz", "empty", npy("<i8", [0, 5], b""))
    put("npy_fuzz", "variants", npy("<f4", [1], struct.pack("<f", 2),
                                    dict_text='{"shape": (1L,), "descr": "<f4", "fortran_order": False}'))
    put("npy_fuzz", "fortran", npy("<f4", [1], struct.pack("<f", 2),
                                   dict_text="{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }"))
    put("npy_fuzz", "huge_shape", npy("<f4", [2**40, 2**40], b""))


def gzip_seeds():
    text = b"a,b,label\n1,2,0\n3,4,1\n"
    put("gzip_fuzz", "csv.gz", gz(text))
    put("gzip_fuzz", "idx.gz", gz(idx([3, 2, 2], range(12)), compresslevel=1))
    put("gzip_fuzz", "two_members.gz", gz(b"first\n") + gz(b"second\n"))
    put("gzip_fuzz", "truncated.gz", gz(text * 20)[:-9])
    put("gzip_fuzz", "zeros.gz", gz(b"\0" * 4096))
    put("gzip_fuzz", "plain.txt", text)
    put("gzip_fuzz", "empty.gz", b"")


def meta_seeds():
    good = """{
  "format_version": 1,
  "task": "classification",
  "feature_shape": [1, 28, 28],
  "num_classes": 10,
  "seed": 42,
  "train": [{"x": "train_000.x.npy", "y": "train_000.y.npy", "n": 30000},
            {"x": "train_001.x.npy", "y": "train_001.y.npy", "n": 30000}],
  "val": [{"x": "val_000.x.npy", "y": "val_000.y.npy", "n": 10000}],
  "source": {"format": "idx"}
}
"""
    put("store_meta_fuzz", "good.json", good)
    put("store_meta_fuzz", "regression.json",
        '{"format_version":1,"task":"regression","feature_shape":[13],"num_classes":0,'
        '"seed":0,"train":[{"x":"a","y":"b","n":5}],"val":[]}')
    put("store_meta_fuzz", "bad_types.json",
        '{"format_version":1.5e300,"task":"classification","feature_shape":[1e300,-1],'
        '"num_classes":-1,"seed":-1,"train":[{"x":"../a","y":"/b","n":-3}],"val":{}}')


if __name__ == "__main__":
    if os.path.isdir(ROOT):
        shutil.rmtree(ROOT)
    spec_seeds()
    idx_seeds()
    csv_seeds()
    libsvm_seeds()
    npy_seeds()
    gzip_seeds()
    meta_seeds()
    n = sum(len(fs) for _, _, fs in os.walk(ROOT))
    print("wrote %d seed files under %s" % (n, ROOT))
