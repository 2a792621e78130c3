#!/usr/bin/env python3
"""The data-parallel external peer: PyTorch DistributedDataParallel (gloo, CPU), W ranks
averaging gradients after every mini-batch, training the configs of a Cerebro
models.json one after another (each config on all W ranks at once).

  .venv-bench/bin/python bench/peers/pytorch_ddp.py --store DIR --configs models.json \
      --epochs E --workers W --out result.json [--seed S] [--max-configs K]

What it does, and what is held equal to pytorch_seq.py / Cerebro:

  * processes: W rank processes are started once (multiprocessing "spawn", the start
    method of torch.multiprocessing.spawn) for all configs; the launching process only
    waits (it imports neither numpy nor torch) and stops every rank if one fails. The
    ranks join a gloo process group on 127.0.0.1 (a free port; GLOO_SOCKET_IFNAME=lo
    unless set) and each config's model is wrapped in DistributedDataParallel. One
    intra-op and one inter-op torch thread per rank (common.configure_torch); gloo's own
    communication threads come on top, as they would for any DDP user.
  * data: rank r loads only its own train partition(s) of the store (round robin:
    partition i goes to rank i % W; the benchmark's store has W partitions, so rank r
    takes partition r) and its share of the val partitions, so the whole run holds one
    copy of the data, like MOP. Each rank shuffles its own partition every epoch (NumPy
    PCG64 seeded with DeriveSeed(seed, "peer.ddp.epoch", {model id, epoch, rank}); dropout
    seeded with the same value).
  * batch semantics: the global batch of every SGD step is the config's batch_size. Each
    rank takes batch_size // W examples per step, the remainder (batch_size % W) going
    one each to the lowest ranks. Each rank's loss is the SUM of its examples' cross
    entropy times W / (the step's global batch size), so DDP's gradient average (sum / W)
    is exactly the gradient of the mean loss over the global batch: the optimisation is
    sequential mini-batch SGD with the config's batch size (up to the example order and
    float summation order) and its accuracy is comparable to pytorch_seq.py's. Steps per
    epoch = max over ranks of ceil(n_r / b_r) (= ceil(N / batch_size) for equal
    partitions); the last step is partial, like the sequential peer's last batch. This
    holds for ranks holding equally many examples (give or take a few: the benchmark's
    store has W equal partitions). With unequal shares (e.g. 3 partitions on 2 ranks) a
    rank that runs out of examples takes part in the remaining steps with a zero-weighted
    example and those steps' global batch is the other ranks' share only (more, smaller
    steps than sequential; rank 0 prints a warning).
  * models, optimizers, init seeds (DeriveSeed(seed, "model.init", {id}), identical on
    every rank; DDP also broadcasts rank 0's initial weights), epochs and evaluation
    (batches of 1024, summed loss) as pytorch_seq.py; validation: every rank evaluates
    its val partitions and the sums (loss, correct, count) are all-reduced.
  * bytes moved between workers: DDP all-reduces every gradient once per step. Counted
    as the ring all-reduce volume, 2 * (W - 1) / W * gradient bytes sent per rank per
    step, summed over the W ranks and all steps of all configs
    (`bytes_moved_between_workers` = steps * 2 * (W - 1) * gradient bytes). DDP's one-off
    broadcast of the initial weights per config ((W - 1) * parameter bytes) and the
    per-epoch metric all-reduces (a few doubles) are recorded apart and not in it.

Output JSON: the fields of pytorch_seq.py (see bench/peers/README.md) plus `workers`,
`ranks` [{rank, pid, train/val partitions and examples, data bytes, load seconds}],
`bytes_moved_between_workers`, per model `steps_per_epoch`, `gradient_bytes`,
`local_batch_sizes`, `bytes_moved`. `train_cpu_seconds` in the history is the CPU time of
all W rank processes in the epoch's training loop (gloo threads included).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import common  # noqa: E402

common.ensure_blas_env()  # may re-exec with OPENBLAS_CORETYPE=SkylakeX (the ranks inherit it)

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import multiprocessing.connection  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_batch_sizes(batch_size, world):
    """Per-rank examples per step: batch_size // world, the remainder to the lower ranks."""
    return [batch_size // world + (1 if r < batch_size % world else 0) for r in range(world)]


def step_plan(n_per_rank, b_per_rank):
    """(steps per epoch, global batch size of each step) for ranks holding n_per_rank
    examples and taking b_per_rank per step."""
    steps = max(-(-n // b) for n, b in zip(n_per_rank, b_per_rank))
    sizes = [sum(max(0, min(b, n - s * b)) for n, b in zip(n_per_rank, b_per_rank))
             for s in range(steps)]
    return steps, sizes


def step_share(order, s, mine, world, global_size):
    """This rank's examples of step s (positions s*mine .. of its shuffled `order`) and
    the weight of their summed loss. DDP averages the gradients over the W ranks, so
    sum_r (W / g) * sum-loss_r / W is the mean loss over the step's global batch of g
    examples. A rank out of examples before the others takes part with one example at
    weight 0. bench/peers/check_equivalence.py checks the resulting gradient against a
    single process's."""
    n_local = int(order.shape[0])
    lo, hi = s * mine, min(s * mine + mine, n_local)
    if lo < hi:
        return order[lo:hi], world / global_size
    return order[:1], 0.0


def train_config(cfg, rank, world, tensors, n_per_rank, meta, epochs, seed, quiet):
    """One config on all ranks (collective: every rank calls it with the same cfg)."""
    import numpy as np
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    params = cfg["params"]
    model_id = int(cfg["id"])
    batch_size = common._int(params.get("batch_size", 32), "batch_size")
    if batch_size < world:
        raise ValueError(f"model {model_id}: batch_size {batch_size} < {world} ranks")
    b = local_batch_sizes(batch_size, world)
    mine = b[rank]
    steps, global_sizes = step_plan(n_per_rank, b)
    n_total = sum(n_per_rank)
    if rank == 0 and steps != -(-n_total // batch_size):
        print(f"pytorch_ddp: warning: model {model_id}: ranks hold {n_per_rank} examples, "
              f"so an epoch takes {steps} steps instead of {-(-n_total // batch_size)} of "
              f"batch {batch_size} (unequal partitions: the last steps are smaller)",
              file=sys.stderr, flush=True)

    torch.manual_seed(common.derive_seed(seed, "model.init", [model_id]))
    model = common.build_model(params, meta["feature_shape"], int(meta["num_classes"]))
    ddp = DDP(model)  # broadcasts rank 0's initial weights (the same here: same seed)
    opt = common.make_optimizer(params, ddp.parameters())
    grad_bytes = sum(p.numel() * p.element_size() for p in ddp.parameters() if p.requires_grad)
    param_bytes = sum(p.numel() * p.element_size() for p in ddp.parameters())
    x, y = tensors["x_train"], tensors["y_train"]
    n_local = int(x.shape[0])
    history = []
    train_seconds = eval_seconds = 0.0
    for epoch in range(1, epochs + 1):
        epoch_seed = common.derive_seed(seed, "peer.ddp.epoch", [model_id, epoch, rank])
        t0 = time.perf_counter()
        c0 = time.process_time()  # the whole process: gloo's threads included
        ddp.train()
        torch.manual_seed(epoch_seed)  # dropout
        order = torch.from_numpy(
            np.random.Generator(np.random.PCG64(epoch_seed)).permutation(n_local))
        loss_sum, correct, seen = 0.0, 0, 0
        for s in range(steps):
            idx, weight = step_share(order, s, mine, world, global_sizes[s])
            xb = common.rows(x, idx, tensors["table"])
            yb = y.index_select(0, idx)
            opt.zero_grad()
            out = ddp(xb)
            loss = F.cross_entropy(out, yb, reduction="sum")
            value = loss.item()
            if not np.isfinite(value):
                raise FloatingPointError(f"model {model_id}: non-finite loss in epoch {epoch} "
                                         f"(rank {rank})")
            (loss * weight).backward()
            opt.step()
            if weight:
                loss_sum += value
                seen += int(idx.shape[0])
                with torch.no_grad():
                    correct += int(out.argmax(1).eq(yb).sum().item())
        t1 = time.perf_counter()
        c1 = time.process_time()
        val_loss_sum, val_correct, n_val = common.evaluate(model, tensors["x_val"],
                                                           tensors["y_val"], tensors["table"])
        t2 = time.perf_counter()
        sums = torch.tensor([loss_sum, correct, seen, val_loss_sum, val_correct, n_val,
                             c1 - c0], dtype=torch.float64)
        dist.all_reduce(sums)
        times = torch.tensor([t1 - t0, t2 - t1], dtype=torch.float64)
        dist.all_reduce(times, op=dist.ReduceOp.MAX)
        g_loss, g_correct, g_seen, g_vloss, g_vcorrect, g_nval, g_cpu = sums.tolist()
        ep_train, ep_eval = times.tolist()
        if int(g_seen) != n_total:
            raise RuntimeError(f"model {model_id}: trained {int(g_seen)} examples in epoch "
                               f"{epoch}, expected {n_total}")
        train_seconds += ep_train
        eval_seconds += ep_eval
        record = {
            "epoch": epoch,
            "train_loss": g_loss / n_total,
            "train_accuracy": g_correct / n_total,
            "val_loss": g_vloss / g_nval if g_nval else float("nan"),
            "val_accuracy": g_vcorrect / g_nval if g_nval else float("nan"),
            "train_seconds": ep_train,  # slowest rank's training loop
            "eval_seconds": ep_eval,  # slowest rank's evaluation of its val share
            "train_samples_per_second": n_total / ep_train,
            "train_cpu_seconds": g_cpu,  # all ranks' processes
            "train_samples_per_cpu_second": n_total / g_cpu if g_cpu > 0 else None,
        }
        history.append(record)
        if rank == 0 and not quiet:
            print(f"model {model_id} epoch {epoch}: train_loss {record['train_loss']:.4f} "
                  f"val_acc {record['val_accuracy']:.4f} "
                  f"({record['train_samples_per_second']:.0f} samples/s, {world} ranks)",
                  flush=True)
    per_step_per_rank = 2 * (world - 1) / world * grad_bytes
    return {"id": model_id, "history": history, "train_seconds": train_seconds,
            "eval_seconds": eval_seconds, "steps_per_epoch": steps,
            "local_batch_sizes": b, "gradient_bytes": grad_bytes,
            "bytes_moved_per_rank_per_step": per_step_per_rank,
            "bytes_moved": int(round(per_step_per_rank * world * steps * epochs)),
            "init_broadcast_bytes": (world - 1) * param_bytes}


def rank_main(rank, world, port, opts, configs, result_dir):
    """One rank: joins the group, loads its share of the store, trains every config."""
    import datetime
    t_start = time.perf_counter()
    import torch
    import torch.distributed as dist
    common.configure_torch(opts["threads"])
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world,
                            timeout=datetime.timedelta(seconds=opts["timeout"]))
    meta = common.read_meta(opts["store"])
    n_train_parts, n_val_parts = len(meta["train"]), len(meta.get("val", []))
    train_parts = common.rank_partitions(n_train_parts, rank, world)
    val_parts = common.rank_partitions(n_val_parts, rank, world)
    n_per_rank = [sum(common.split_sizes(meta, "train",
                                         common.rank_partitions(n_train_parts, r, world)))
                  for r in range(world)]
    t = time.perf_counter()
    data = common.load_store(opts["store"], train_parts, val_parts)
    tensors = common.to_tensors(data)  # zero-copy views
    load_seconds = time.perf_counter() - t
    if int(data["x_train"].shape[0]) != n_per_rank[rank]:
        raise RuntimeError(f"rank {rank}: loaded {data['x_train'].shape[0]} examples, "
                           f"meta.json says {n_per_rank[rank]}")
    dist.barrier()  # every rank loaded: training starts together
    t_train = time.perf_counter()
    per_model = [train_config(cfg, rank, world, tensors, n_per_rank, data["meta"],
                              opts["epochs"], opts["seed"], opts["quiet"]) for cfg in configs]
    train_wall = time.perf_counter() - t_train
    blas = common.blas_info()
    out = {
        "rank": rank, "pid": os.getpid(),
        "train_partitions": train_parts, "val_partitions": val_parts,
        "train_examples": int(data["x_train"].shape[0]),
        "val_examples": int(data["x_val"].shape[0]),
        "data_bytes_held": common.data_nbytes(data),
        "start_seconds": t - t_start,  # imports, torch set-up, process-group rendezvous
        "load_seconds": load_seconds,
        "train_wall_seconds": train_wall,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "openblas_corename": blas["openblas_corename"],
        "blas": blas,
        "torch_version": torch.__version__,
        "torch_file": torch.__file__,
    }
    if rank == 0:
        out["per_model"] = per_model
    common.write_json(os.path.join(result_dir, f"rank{rank}.json"), out)
    dist.barrier()
    dist.destroy_process_group()


def run_ranks(world, target, *args):
    """Starts W rank processes target(rank, world, port, *args) on a free 127.0.0.1 port
    and waits; if one fails, stops the others. Returns the exit codes. (Also the launcher
    of check_equivalence.py's gradient check.)"""
    ctx = multiprocessing.get_context("spawn")  # as torch.multiprocessing.spawn
    port = free_port()
    procs = [ctx.Process(target=target, args=(r, world, port) + args,
                         name=f"ddp-rank{r}", daemon=True) for r in range(world)]
    for p in procs:
        p.start()
    live = list(procs)
    failed = False
    while live:
        multiprocessing.connection.wait([p.sentinel for p in live])
        for p in list(live):
            if p.exitcode is not None:
                p.join()
                live.remove(p)
                if p.exitcode != 0:
                    failed = True
        if failed:
            for p in live:  # a rank died: the others would wait in a collective
                p.terminate()
            for p in live:
                p.join(10)
                if p.exitcode is None:
                    p.kill()
                    p.join()
            live = []
    return [p.exitcode for p in procs]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(ap, workers_help="DDP ranks (processes)", threads_per="rank")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="gloo collective timeout, seconds")
    args = ap.parse_args()

    t_start = time.perf_counter()
    world = args.workers
    if world < 1:
        ap.error("--workers must be >= 1")
    configs = common.load_configs(args.configs, args.max_configs)
    meta = common.read_meta(args.store)
    if len(meta["train"]) < world:
        ap.error(f"the store has {len(meta['train'])} train partition(s), fewer than "
                 f"{world} ranks (prepare it with --partitions {world})")
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # the ranks inherit it
    opts = {"store": os.path.abspath(args.store), "epochs": args.epochs, "seed": args.seed,
            "threads": args.threads, "quiet": args.quiet, "timeout": args.timeout}
    result_dir = tempfile.mkdtemp(prefix="peers_ddp_")
    try:
        codes = run_ranks(world, rank_main, opts, configs, result_dir)
        if any(c != 0 for c in codes):
            print(f"pytorch_ddp: rank exit codes {codes}", file=sys.stderr)
            sys.exit(1)
        ranks = []
        for r in range(world):
            with open(os.path.join(result_dir, f"rank{r}.json")) as f:
                ranks.append(json.load(f))
    finally:
        shutil.rmtree(result_dir, ignore_errors=True)
    wall = time.perf_counter() - t_start

    per_model = ranks[0].pop("per_model")
    n_train = sum(r["train_examples"] for r in ranks)
    n_val = sum(r["val_examples"] for r in ranks)
    train_samples = n_train * args.epochs * len(configs)
    compute = sum(m["train_seconds"] for m in per_model)
    moved = sum(m["bytes_moved"] for m in per_model)
    blas = ranks[0]["blas"]
    result = {
        "system": "pytorch_ddp",
        "mode": f"DistributedDataParallel (gloo, CPU), {world} ranks, gradients all-reduced "
                "every step; configs one after another",
        "store": os.path.abspath(args.store),
        "configs": os.path.abspath(args.configs),
        "num_models": len(configs),
        "epochs": args.epochs,
        "seed": args.seed,
        "workers": world,
        "wall_seconds": wall,
        "load_seconds": max(r["load_seconds"] for r in ranks),
        "rank_start_seconds": max(r["start_seconds"] for r in ranks),
        "train_wall_seconds": ranks[0]["train_wall_seconds"],
        "train_samples": train_samples,
        "samples_per_second": train_samples / wall,
        "train_loop_samples_per_second": train_samples / compute if compute else None,
        "best": common.best_of(per_model),
        "per_model": per_model,
        "data_bytes_held": sum(r["data_bytes_held"] for r in ranks),  # one copy in all
        "data_copies": 1,
        "bytes_moved_between_workers": moved,
        "bytes_moved_model": ("ring all-reduce volume: 2*(W-1)/W * gradient bytes sent per "
                              "rank per step, summed over ranks, steps, epochs and configs; "
                              "DDP's initial weight broadcast (init_broadcast_bytes) and the "
                              "per-epoch metric all-reduces not included"),
        "init_broadcast_bytes": sum(m["init_broadcast_bytes"] for m in per_model),
        "batch_semantics": ("global batch per step = the config's batch_size, split over the "
                            "ranks (batch_size // W each, remainder to the lower ranks); loss "
                            "scaled so that DDP's average is the global-batch mean gradient"),
        "train_examples": n_train,
        "val_examples": n_val,
        "ranks": ranks,
        "threads": ranks[0]["threads"],
        "interop_threads": ranks[0]["interop_threads"],
        "flush_denormal": True,
        "openblas_coretype": blas["openblas_coretype_env"],
        "blas": blas,
        "backend": "gloo",
        "torch_version": ranks[0]["torch_version"],
        "torch_file": ranks[0]["torch_file"],
        "machine": common.machine_info(),
    }
    common.write_json(args.out, result)
    best = result["best"]
    print(f"pytorch_ddp: {len(configs)} model(s) x {args.epochs} epoch(s) on {world} ranks in "
          f"{wall:.1f} s, {result['samples_per_second']:.0f} samples/s (train loop "
          f"{result['train_loop_samples_per_second']:.0f}), best model {best['id']} "
          f"val_accuracy {best['val_accuracy']:.4f}; {moved / 1e6:.0f} MB all-reduced; "
          f"OpenBLAS {ranks[0]['openblas_corename']} -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
