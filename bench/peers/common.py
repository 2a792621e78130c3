"""Shared pieces of the external-peer baselines (pytorch_seq.py, pytorch_ddp.py,
ray_tune.py).

Everything here mirrors what Cerebro's C++ trainer does, so that a peer trains the same
models on the same data with the same per-step work:

  * data: a Cerebro partitioned store (DIR/meta.json + NumPy .npy partitions), loaded
    into one x / int64 y array per split (all train partitions concatenated, all val
    partitions concatenated, or a chosen subset of them); x keeps the store's encoding:
    uint8 stores (format 2) stay bytes and each batch is decoded with Cerebro's 256-entry
    table, as the C++ trainer does;
  * models: the built-in families of src/cerebro/model/families.cc ("mlp", "cnn"), built
    from the same flat params dict, with the same layer order and module types;
  * optimizers: src/cerebro/train/trainer.cc MakeOptimizer (sgd with momentum, adam with
    L2-in-gradient weight decay as torch.optim.Adam, adamw with decoupled decay);
  * training: cross-entropy (mean per batch), a seeded shuffled order per epoch, the
    last partial batch included, train loss weighted by batch size; evaluation in
    batches of 1024 (trainer.cc kEvalBatchSize), summed loss, metrics weighted by count;
  * process settings: one intra-op thread, one inter-op thread, flush-denormal on
    (trainer.cc ConfigureProcess), and OpenBLAS forced to its SkylakeX kernels on an
    AVX-512 CPU when OPENBLAS_CORETYPE is unset (Cerebro's workers do the same).

Must be importable before torch is: ensure_blas_env() re-executes the process when it
has to set OPENBLAS_CORETYPE (OpenBLAS reads it only when it loads).
"""

import ctypes
import json
import os
import sys
import time

SKYLAKEX = "SkylakeX"
EVAL_BATCH_SIZE = 1024  # trainer.cc kEvalBatchSize

COMMON_KEYS = {"model", "optimizer", "lr", "momentum", "weight_decay", "batch_size", "loss"}
FAMILY_KEYS = {
    "mlp": {"hidden", "activation", "dropout"},
    "cnn": {"conv_channels", "kernel_size", "pool", "dense", "activation", "dropout"},
}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")


# ---- environment ------------------------------------------------------------------------

def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def wanted_openblas_coretype():
    """SkylakeX when the CPU has AVX-512F and the variable is unset, else None.

    Debian's OpenBLAS 0.3.21 does not recognise newer AVX-512 CPUs (e.g. Sapphire
    Rapids) and falls back to generic Prescott kernels; Cerebro's workers are started
    with OPENBLAS_CORETYPE=SkylakeX in that case, so the peers are too."""
    if os.environ.get("OPENBLAS_CORETYPE"):
        return None
    return SKYLAKEX if "avx512f" in cpu_flags() else None


def ensure_blas_env():
    """Call before importing torch. Sets OPENBLAS_CORETYPE=SkylakeX (see above) and
    re-executes the interpreter so that OpenBLAS sees it when it loads. Also records
    what the variable was before, for the result JSON."""
    want = wanted_openblas_coretype()
    if want is None:
        os.environ.setdefault("CEREBRO_PEER_CORETYPE_ORIGIN",
                              "environment" if os.environ.get("OPENBLAS_CORETYPE") else "unset")
        return
    if "torch" in sys.modules or "numpy" in sys.modules:
        raise RuntimeError("ensure_blas_env() must run before numpy/torch are imported")
    os.environ["OPENBLAS_CORETYPE"] = want
    os.environ["CEREBRO_PEER_CORETYPE_ORIGIN"] = "set by the peer runner (CPU has avx512f)"
    os.execv(sys.executable, [sys.executable] + sys.argv)


def blas_info():
    """Which BLAS this process runs and the kernel set OpenBLAS chose."""
    info = {"openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
            "openblas_coretype_origin": os.environ.get("CEREBRO_PEER_CORETYPE_ORIGIN")}
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if "blas" in path:
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    info["blas_libraries"] = sorted(libs)
    try:
        lib = ctypes.CDLL("libblas.so.3")
        fn = lib.openblas_get_corename
        fn.restype = ctypes.c_char_p
        info["openblas_corename"] = fn().decode()
    except (OSError, AttributeError):
        info["openblas_corename"] = None
    return info


def configure_torch(threads=1):
    """trainer.cc ConfigureProcess: flush denormals, `threads` intra-op, 1 inter-op."""
    import torch
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # the inter-op pool already started: harmless, no inter-op work here


# ---- seeds (src/cerebro/common/rng.h) ------------------------------------------------------

_M64 = (1 << 64) - 1


def mix64(x):
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def hash_string(s):
    h = 0xCBF29CE484222325
    for c in s.encode():
        h = ((h ^ c) * 0x100000001B3) & _M64
    return h


def derive_seed(seed, tag, parts=()):
    """Cerebro's DeriveSeed: the init seed of model m is derive_seed(seed, "model.init",
    [m]), as in driver.cc, so the peers start from the same weight-init seed."""
    h = mix64((seed & _M64) ^ mix64(hash_string(tag)))
    for p in parts:
        h = mix64(h ^ mix64((p + 0x632BE59BD9B4E019) & _M64))
    return h


# ---- data -----------------------------------------------------------------------------------

FORMAT_VERSIONS = (1, 2)  # partition_store.h: 2 added feature_dtype / feature_scale


def read_meta(store_dir):
    """meta.json of a Cerebro store, checked. Adds "_feature_dtype" ("float32" | "uint8")
    and "_feature_scale" (float; 1.0 for float32 stores): format 1 stores and format 2
    stores without the keys are float32."""
    with open(os.path.join(store_dir, "meta.json")) as f:
        meta = json.load(f)
    if meta.get("format_version") not in FORMAT_VERSIONS:
        raise ValueError(f"{store_dir}/meta.json: format_version {meta.get('format_version')} "
                         f"(the peers read {', '.join(map(str, FORMAT_VERSIONS))})")
    if meta.get("task", "classification") != "classification":
        raise ValueError("the peers support classification stores only")
    dtype = meta.get("feature_dtype", "float32")
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"{store_dir}/meta.json: feature_dtype {dtype!r} "
                         "(expected float32 or uint8)")
    scale = meta.get("feature_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ValueError(f"{store_dir}/meta.json: feature_scale {scale!r} is not a number")
    meta["_feature_dtype"] = dtype
    meta["_feature_scale"] = float(scale) if dtype == "uint8" else 1.0
    return meta


def byte_feature_table(scale):
    """partition_store.cc ByteFeatureTable: table[v] = float(v * scale), the product in
    double precision, so a uint8 store decodes to exactly the floats Cerebro trains on."""
    import numpy as np
    table = (np.arange(256, dtype=np.float64) * float(scale)).astype(np.float32)
    if not np.all(np.isfinite(table)):
        raise ValueError(f"feature_scale {scale!r} makes byte features non-finite")
    return table


def rank_partitions(num_parts, rank, world):
    """Indices of the partitions rank `rank` of `world` takes: round robin (with as many
    partitions as ranks, partition r goes to rank r)."""
    return [i for i in range(num_parts) if i % world == rank]


def split_sizes(meta, kind, parts=None):
    """Example counts of the `kind` ("train" | "val") partitions `parts` (default all)."""
    entries = meta.get(kind, [])
    idx = range(len(entries)) if parts is None else parts
    return [int(entries[i]["n"]) for i in idx]


def split_nbytes(meta, n):
    """Bytes of n examples as the peers hold them in memory: features in the store's
    encoding (1 byte for uint8, 4 for float32) and int64 labels."""
    size = 1 if meta["_feature_dtype"] == "uint8" else 4
    for d in meta["feature_shape"]:
        size *= int(d)
    return n * (size + 8)


def load_store(store_dir, train_parts=None, val_parts=None):
    """Loads a Cerebro partitioned store into numpy arrays.

    Returns dict(meta, x_train, y_train, x_val, y_val, table): features in the store's
    encoding, int64 labels, and for a uint8 store (format 2, feature_dtype "uint8", .npy
    dtype |u1) byte_feature_table(feature_scale), else None. uint8 features stay bytes,
    as Cerebro's workers (and torchvision's MNIST datasets) keep them, and are decoded
    per batch (rows / span), so every system holds the same bytes of data.
    train_parts / val_parts: indices of the partitions to load (default: all), e.g. one
    rank's share (rank_partitions). Each split is read partition by partition (memory-
    mapped) straight into one preallocated array, so loading never holds two copies."""
    import numpy as np
    meta = read_meta(store_dir)
    shape = tuple(int(d) for d in meta["feature_shape"])
    want = np.dtype(np.uint8) if meta["_feature_dtype"] == "uint8" else np.dtype(np.float32)

    def load_split(kind, which):
        entries = meta.get(kind, [])
        parts = [entries[i] for i in (range(len(entries)) if which is None else which)]
        n = sum(int(p["n"]) for p in parts)
        x = np.empty((n,) + shape, dtype=want)
        y = np.empty((n,), dtype=np.int64)
        lo = 0
        for p in parts:
            px = np.load(os.path.join(store_dir, p["x"]), mmap_mode="r")
            py = np.load(os.path.join(store_dir, p["y"]), mmap_mode="r")
            k = int(p["n"])
            if px.shape != (k,) + shape or px.dtype != want:
                raise ValueError(f"{kind} partition {p['x']}: {px.dtype}{px.shape}, "
                                 f"expected {want}{(k,) + shape} (meta.json feature_dtype "
                                 f"{meta['_feature_dtype']})")
            if py.shape != (k,) or py.dtype != np.int64:
                raise ValueError(f"{kind} partition {p['y']}: {py.dtype}{py.shape}, "
                                 f"expected int64({k},)")
            x[lo:lo + k] = px
            y[lo:lo + k] = py
            lo += k
            del px, py
        return x, y

    x_train, y_train = load_split("train", train_parts)
    x_val, y_val = load_split("val", val_parts)
    table = byte_feature_table(meta["_feature_scale"]) if want == np.uint8 else None
    return {"meta": meta, "x_train": x_train, "y_train": y_train,
            "x_val": x_val, "y_val": y_val, "table": table}


def data_nbytes(data):
    return sum(int(data[k].nbytes) for k in ("x_train", "y_train", "x_val", "y_val"))


def load_configs(path, max_configs=None):
    """models.json: [{"id": int, "params": {...}}, ...] (Cerebro's run-dir format); with
    max_configs, only the first that many (smoke runs)."""
    with open(path) as f:
        models = json.load(f)
    if not isinstance(models, list) or not models:
        raise ValueError(f"{path}: expected a non-empty list of {{id, params}}")
    out = []
    for m in models:
        if not isinstance(m, dict) or "id" not in m or not isinstance(m.get("params"), dict):
            raise ValueError(f"{path}: malformed entry {m!r}")
        validate_params(m["params"])
        out.append({"id": int(m["id"]), "params": m["params"]})
    return out[:max_configs] if max_configs else out


# ---- models (src/cerebro/model/families.cc) --------------------------------------------------

def _int(v, key):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ValueError(f"params.{key}: expected an integer, got {v!r}")
    return int(v)


def _int_list(p, key, default):
    v = p.get(key, default)
    if not isinstance(v, list) or any(_int(e, key) < 1 for e in v):
        raise ValueError(f"params.{key}: expected a list of positive integers")
    return [int(e) for e in v]


def validate_params(p):
    family = p.get("model")
    if family not in FAMILY_KEYS:
        raise ValueError(f"params.model: unknown family {family!r} (peers know mlp, cnn)")
    unknown = set(p) - COMMON_KEYS - FAMILY_KEYS[family]
    if unknown:
        raise ValueError(f"params: unknown key(s) {sorted(unknown)} for family {family!r}")
    if p.get("loss", "cross_entropy") != "cross_entropy":
        raise ValueError("params.loss: the peers support cross_entropy only")
    if p.get("optimizer", "adam") not in ("sgd", "adam", "adamw"):
        raise ValueError(f"params.optimizer: expected sgd, adam or adamw")
    if p.get("activation", "relu") not in ACTIVATIONS:
        raise ValueError(f"params.activation: expected one of {ACTIVATIONS}")
    if not 0.0 <= float(p.get("dropout", 0.0)) < 1.0:
        raise ValueError("params.dropout: expected a number in [0, 1)")
    if _int(p.get("batch_size", 32), "batch_size") < 1:
        raise ValueError("params.batch_size: expected >= 1")


def _activation(name):
    import torch.nn as nn
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}[name]()


def _dense_stack(layers, n_in, hidden, activation, dropout, n_out):
    # families.cc AddDenseStack: Linear -> activation -> Dropout per hidden layer (the
    # Dropout is there even when p == 0), then the output Linear.
    import torch.nn as nn
    for h in hidden:
        layers.append(nn.Linear(n_in, h))
        layers.append(_activation(activation))
        layers.append(nn.Dropout(dropout))
        n_in = h
    layers.append(nn.Linear(n_in, n_out))


def build_model(params, feature_shape, num_classes):
    """A freshly initialised torch module for Cerebro params (weights from torch's global
    generator, which the caller seeds)."""
    import torch
    import torch.nn as nn
    validate_params(params)
    family = params["model"]
    activation = params.get("activation", "relu")
    dropout = float(params.get("dropout", 0.0))
    if family == "mlp":
        hidden = _int_list(params, "hidden", [])
        n_in = 1
        for d in feature_shape:
            n_in *= int(d)
        layers = [nn.Flatten()]
        _dense_stack(layers, n_in, hidden, activation, dropout, num_classes)
        return nn.Sequential(*layers)

    # cnn: Conv2d('same' padding) -> activation -> 2x2 pool (stride 2, floor) per block,
    # then flatten and the dense head; dropout only in the dense head.
    conv_channels = _int_list(params, "conv_channels", [32, 64])
    if not conv_channels:
        raise ValueError("params.conv_channels: expected a non-empty list of positive integers")
    k = _int(params.get("kernel_size", 3), "kernel_size")
    if k < 1 or k % 2 == 0:
        raise ValueError("params.kernel_size: expected an odd positive integer")
    pool = params.get("pool", "max")
    if pool not in ("max", "avg", "none"):
        raise ValueError("params.pool: expected one of max, avg, none")
    dense = _int_list(params, "dense", [128])
    shape = [int(d) for d in feature_shape]
    if len(shape) not in (2, 3):
        raise ValueError("model 'cnn': needs image features of shape [H, W] or [C, H, W]")
    channels = shape[0] if len(shape) == 3 else 1
    height, width = shape[-2], shape[-1]
    layers = []
    c_in, h, w = channels, height, width
    for i, c_out in enumerate(conv_channels):
        layers.append(nn.Conv2d(c_in, c_out, k, padding=k // 2))
        layers.append(_activation(activation))
        if pool != "none":
            h //= 2
            w //= 2
            if h < 1 or w < 1:
                raise ValueError(f"params.conv_channels: the {height}x{width} image shrinks "
                                 f"below 1 px after {i + 1} 2x2 pooling layers")
            layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
        c_in = c_out
    layers.append(nn.Flatten())
    _dense_stack(layers, c_in * h * w, dense, activation, dropout, num_classes)
    seq = nn.Sequential(*layers)

    class Cnn(nn.Module):  # families.cc reshapes [N, ...] to [N, C, H, W] in forward
        def __init__(self):
            super().__init__()
            self.seq = seq

        def forward(self, x):
            return self.seq(x.reshape(-1, channels, height, width))

    return Cnn()


def make_optimizer(params, model_params):
    """trainer.cc MakeOptimizer. torch.optim.Adam's weight_decay is L2 added to the
    gradient, like torch::optim::Adam's; AdamW's is decoupled. Other hyperparameters
    (betas, eps, dampening, nesterov) are the same defaults in Python and C++."""
    import torch
    kind = params.get("optimizer", "adam")
    lr = float(params.get("lr", 1e-3))
    wd = float(params.get("weight_decay", 0.0))
    if kind == "sgd":
        return torch.optim.SGD(model_params, lr=lr, momentum=float(params.get("momentum", 0.0)),
                               weight_decay=wd)
    if kind == "adam":
        return torch.optim.Adam(model_params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(model_params, lr=lr, weight_decay=wd)


# ---- training ---------------------------------------------------------------------------------

def to_tensors(data):
    """Zero-copy torch views of the numpy arrays (read-only arrays, e.g. from Ray's
    object store, are fine: training only reads them), plus "table": the byte decoding
    table as a tensor, or None for float32 features."""
    import warnings
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "array is not writable"
        out = {k: torch.from_numpy(data[k]) for k in ("x_train", "y_train", "x_val", "y_val")}
    table = data.get("table")
    out["table"] = None if table is None else torch.from_numpy(table.copy())
    return out


def rows(x, idx, table):
    """Examples idx of x as a float32 batch: trainer.cc Partition::Rows (uint8 features
    decoded through `table`, float32 ones gathered)."""
    import torch
    xb = x.index_select(0, idx)
    return xb if table is None else torch.take(table, xb.long())


def span(x, lo, hi, table):
    """Examples [lo, hi) of x as a float32 batch: trainer.cc Partition::Range."""
    import torch
    xb = x[lo:hi]
    return xb if table is None else torch.take(table, xb.long())


def evaluate(model, x, y, table=None):
    """trainer.cc RunPass(train=false): in order, batches of 1024, summed loss."""
    import torch
    import torch.nn.functional as F
    model.eval()
    n = int(x.shape[0])
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for lo in range(0, n, EVAL_BATCH_SIZE):
            out = model(span(x, lo, lo + EVAL_BATCH_SIZE, table))
            yb = y[lo:lo + EVAL_BATCH_SIZE]
            loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
            correct += int(out.argmax(1).eq(yb).sum().item())
    return loss_sum, correct, n


def train_epoch(model, opt, tensors, batch_size, model_id, epoch, seed):
    """One epoch of trainer.cc RunPass(train=true) then the evaluation: a pass over all the
    training data in the order of derive_seed(seed, "peer.epoch", [model_id, epoch]) (the
    same value seeds dropout), the last partial batch included. Returns the epoch's record
    (train/val loss and accuracy, seconds, samples per second)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    x, y = tensors["x_train"], tensors["y_train"]
    n = int(x.shape[0])
    epoch_seed = derive_seed(seed, "peer.epoch", [model_id, epoch])
    t0 = time.perf_counter()
    c0 = time.thread_time()
    model.train()
    torch.manual_seed(epoch_seed)  # dropout, as trainer.cc seeds per unit
    order = torch.from_numpy(np.random.Generator(np.random.PCG64(epoch_seed)).permutation(n))
    loss_sum, correct = 0.0, 0
    for lo in range(0, n, batch_size):  # the last partial batch included
        idx = order[lo:lo + batch_size]
        xb = rows(x, idx, tensors["table"])
        yb = y.index_select(0, idx)
        opt.zero_grad()
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        value = loss.item()
        if not np.isfinite(value):
            raise FloatingPointError(f"model {model_id}: non-finite loss in epoch {epoch}")
        loss.backward()
        opt.step()
        loss_sum += value * int(idx.shape[0])
        with torch.no_grad():
            correct += int(out.argmax(1).eq(yb).sum().item())
    t1 = time.perf_counter()
    c1 = time.thread_time()
    val_loss_sum, val_correct, n_val = evaluate(model, tensors["x_val"], tensors["y_val"],
                                                tensors["table"])
    t2 = time.perf_counter()
    return {
        "epoch": epoch,
        "train_loss": loss_sum / n,
        "train_accuracy": correct / n,
        "val_loss": val_loss_sum / n_val if n_val else float("nan"),
        "val_accuracy": val_correct / n_val if n_val else float("nan"),
        "train_seconds": t1 - t0,
        "eval_seconds": t2 - t1,
        "train_samples_per_second": n / (t1 - t0),
        # CPU time of this thread in the training loop: on a shared (loaded) machine
        # n / train_cpu_seconds is the rate the trainer would reach on an idle core.
        "train_cpu_seconds": c1 - c0,
        "train_samples_per_cpu_second": n / (c1 - c0) if c1 > c0 else None,
    }


def train_model(config, tensors, feature_shape, num_classes, epochs, seed, on_epoch=None):
    """Trains one config for `epochs` passes over all the training data and evaluates
    after each. Returns {id, history: [...], train_seconds, eval_seconds}.

    Seeds: weights from derive_seed(seed, "model.init", [id]) (Cerebro's init seed for
    the same run seed); epoch e shuffles with derive_seed(seed, "peer.epoch", [id, e])
    and seeds dropout with the same value (train_epoch). on_epoch(record) is called after
    each epoch (Ray Tune reports from it)."""
    import torch
    params = config["params"]
    model_id = int(config["id"])
    torch.manual_seed(derive_seed(seed, "model.init", [model_id]))
    model = build_model(params, feature_shape, num_classes)
    opt = make_optimizer(params, model.parameters())
    batch_size = _int(params.get("batch_size", 32), "batch_size")
    history = []
    train_seconds = eval_seconds = 0.0
    for epoch in range(1, epochs + 1):
        record = train_epoch(model, opt, tensors, batch_size, model_id, epoch, seed)
        train_seconds += record["train_seconds"]
        eval_seconds += record["eval_seconds"]
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
    return {"id": model_id, "history": history, "train_seconds": train_seconds,
            "eval_seconds": eval_seconds}


def best_of(per_model):
    """Best validation accuracy over all models and epochs (ties: lower id, earlier)."""
    best = None
    for m in per_model:
        for h in m["history"]:
            if best is None or h["val_accuracy"] > best["val_accuracy"]:
                best = {"id": m["id"], "epoch": h["epoch"], "val_accuracy": h["val_accuracy"],
                        "val_loss": h["val_loss"]}
    return best


def machine_info():
    import platform
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "avx512f": "avx512f" in cpu_flags(),
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()}


def add_common_args(ap, workers_help=None, threads_per="process"):
    """The options every peer runner takes; `workers_help` adds a required --workers."""
    ap.add_argument("--store", required=True, help="Cerebro partitioned store directory")
    ap.add_argument("--configs", required=True, help="models.json: [{id, params}, ...]")
    ap.add_argument("--epochs", type=int, required=True)
    if workers_help:
        ap.add_argument("--workers", type=int, required=True, help=workers_help)
    ap.add_argument("--out", required=True, help="result JSON path")
    ap.add_argument("--seed", type=int, default=2026, help="run seed (Cerebro's run.seed)")
    ap.add_argument("--threads", type=int, default=1,
                    help=f"torch intra-op threads per {threads_per} (Cerebro: 1)")
    ap.add_argument("--max-configs", type=int, help="train only the first K configs (smoke)")
    ap.add_argument("--quiet", action="store_true")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
