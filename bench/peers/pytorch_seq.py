#!/usr/bin/env python3
"""The "sequential" external peer: plain PyTorch in one process, one thread, training the
configs of a Cerebro models.json one after another on all the training data.

  .venv-bench/bin/python bench/peers/pytorch_seq.py --store DIR --configs models.json \
      --epochs E --out result.json [--seed S]

See bench/peers/README.md for what is held equal to Cerebro and the output fields.
"""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

common.ensure_blas_env()  # may re-exec with OPENBLAS_CORETYPE=SkylakeX (before torch loads)

import argparse  # noqa: E402
import time  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(ap)
    args = ap.parse_args()

    t_start = time.perf_counter()
    import torch
    common.configure_torch(args.threads)
    configs = common.load_configs(args.configs, args.max_configs)

    t_load = time.perf_counter()
    data = common.load_store(args.store)
    tensors = common.to_tensors(data)  # zero-copy views: no second copy of the data
    load_seconds = time.perf_counter() - t_load
    meta = data["meta"]
    n_train = int(data["x_train"].shape[0])

    per_model = []
    t_train = time.perf_counter()
    for cfg in configs:
        def log(rec, cfg=cfg):
            if not args.quiet:
                print(f"model {cfg['id']} epoch {rec['epoch']}: train_loss {rec['train_loss']:.4f} "
                      f"val_acc {rec['val_accuracy']:.4f} "
                      f"({rec['train_samples_per_second']:.0f} samples/s)", flush=True)
        per_model.append(common.train_model(cfg, tensors, meta["feature_shape"],
                                            int(meta["num_classes"]), args.epochs, args.seed,
                                            on_epoch=log))
    train_wall = time.perf_counter() - t_train
    wall = time.perf_counter() - t_start

    train_samples = n_train * args.epochs * len(configs)
    compute = sum(m["train_seconds"] for m in per_model)
    blas = common.blas_info()
    result = {
        "system": "pytorch",
        "mode": "sequential, one process",
        "store": os.path.abspath(args.store),
        "configs": os.path.abspath(args.configs),
        "num_models": len(configs),
        "epochs": args.epochs,
        "seed": args.seed,
        "workers": 1,
        "wall_seconds": wall,
        "load_seconds": load_seconds,
        "train_wall_seconds": train_wall,  # training + per-epoch validation of all models
        "train_samples": train_samples,
        "samples_per_second": train_samples / wall,
        "train_loop_samples_per_second": train_samples / compute if compute else None,
        "best": common.best_of(per_model),
        "per_model": per_model,
        "data_bytes_held": common.data_nbytes(data),  # torch tensors alias these arrays
        "data_copies": 1,
        "train_examples": n_train,
        "val_examples": int(data["x_val"].shape[0]),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "flush_denormal": True,
        "openblas_coretype": blas["openblas_coretype_env"],
        "blas": blas,
        "torch_version": torch.__version__,
        "torch_file": torch.__file__,
        "machine": common.machine_info(),
    }
    common.write_json(args.out, result)
    best = result["best"]
    print(f"pytorch: {len(configs)} model(s) x {args.epochs} epoch(s) in {wall:.1f} s, "
          f"{result['samples_per_second']:.0f} samples/s (train loop "
          f"{result['train_loop_samples_per_second']:.0f}), best model {best['id']} "
          f"val_accuracy {best['val_accuracy']:.4f}; OpenBLAS {blas['openblas_corename']} -> "
          f"{args.out}", flush=True)


if __name__ == "__main__":
    main()
