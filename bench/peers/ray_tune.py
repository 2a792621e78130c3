#!/usr/bin/env python3
"""The task-parallel external peer: Ray Tune (ray[tune] 2.60) running the configs of a
Cerebro models.json as parallel trials, W at a time, each trial training one config on
all the training data with one CPU and one torch thread.

  .venv-bench/bin/python bench/peers/ray_tune.py --store DIR --configs models.json \
      --epochs E --workers W --out result.json [--seed S] \
      [--data-passing object_store|per_trial] [--max-configs K]
      [--scheduler fifo|asha [--grace-period G] [--reduction-factor R] [--max-t T]]

--data-passing object_store (the default; system "ray_tune"): the data goes the way Ray
Tune's docs recommend for large objects: the driver loads it and
tune.with_parameters(trainable, data=...) puts it in the object store once; each trial
gets zero-copy numpy views of it (torch.from_numpy, no per-trial copy unless --copy-data).

--data-passing per_trial (system "ray_tune_load"): the pattern of Ray Tune's own PyTorch
tutorials (load_data() inside the trainable): the driver passes only the store path and
never loads the data; every trial loads the whole store itself (common.load_store) into
its own arrays, so W concurrent trials hold W copies. The script measures how many
trials overlapped (from their start and last-report times) and reports that many copies.

--scheduler asha (bench/early_stopping/run.sh): Tune's ASHAScheduler decides which trials
go on (metric val_accuracy, mode max, time_attr training_iteration = epochs, since every
epoch is one tune.report; grace period, reduction factor and max_t as given, max_t
defaulting to --epochs); the history then carries each epoch's report_time (wall clock)
and train_samples counts the epochs actually trained. The default, fifo, trains every
trial --epochs epochs, as before.

A local Ray (ray.init(num_cpus=W)) is started and shut down by this script; it checks
that none of its processes are left behind. See bench/peers/README.md.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import common  # noqa: E402

common.ensure_blas_env()  # may re-exec with OPENBLAS_CORETYPE=SkylakeX (workers inherit it)

# Before ray is imported (docs/ray-spike.md): keep a local cluster on this host's address
# as given, no token auth, no usage stats. Trials import `common` from this directory.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"  # trials import common.py too
os.environ["PYTHONPATH"] = HERE + (os.pathsep + os.environ["PYTHONPATH"]
                                   if os.environ.get("PYTHONPATH") else "")

import argparse  # noqa: E402
import gc  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402


EXIT_WAIT_CAP_SECONDS = 15


def trial_fn(config, data=None, store=None):
    """One Tune trial: one model, `epochs` epochs, a tune.report per epoch. Gets `data`
    from the object store (object_store passing) or loads the store at `store` itself
    (per_trial passing)."""
    import os
    import time
    import common
    from ray import tune

    t_start = time.time()
    common.configure_torch(config["threads"])
    import torch
    load_seconds = 0.0
    if data is None:  # per_trial: load_data() inside the trainable
        t = time.perf_counter()
        data = common.load_store(store)
        load_seconds = time.perf_counter() - t
    data_bytes = common.data_nbytes(data)
    if config["copy_data"]:
        tensors = {k: torch.tensor(data[k]) for k in ("x_train", "y_train", "x_val", "y_val")}
        tensors["table"] = None if data["table"] is None else torch.tensor(data["table"])
    else:
        tensors = common.to_tensors(data)
    meta = data["meta"]
    blas = common.blas_info()
    static = {
        "model_id": int(config["model"]["id"]),
        "pid": os.getpid(),
        "trial_start_time": t_start,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "openblas_corename": blas["openblas_corename"] or "",
        "openblas_coretype_env": blas["openblas_coretype_env"] or "",
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS", ""),
        "trial_load_seconds": load_seconds,
        "trial_data_bytes": data_bytes,
    }

    def report(rec):
        tune.report(dict(rec, **static, report_time=time.time()))

    common.train_model(config["model"], tensors, meta["feature_shape"],
                       int(meta["num_classes"]), config["epochs"], config["seed"],
                       on_epoch=report)


def session_processes(session_dir):
    """Pids (other than ours) whose command line names the Ray session directory."""
    out = []
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if session_dir in cmd:
            out.append((int(d), cmd[:160]))
    return out


def start_ray(args):
    """ray.init for a peer run: args.workers CPUs, no dashboard, Ray's logs only without
    --quiet. Returns (seconds it took, the session directory)."""
    import ray
    t = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False,
             log_to_driver=not args.quiet, configure_logging=True,
             logging_level="warning" if args.quiet else "info")
    init_seconds = time.perf_counter() - t
    try:
        session_dir = ray._private.worker._global_node.get_session_dir_path()
    except Exception:  # private API: fall back to the "latest" link
        session_dir = os.path.realpath("/tmp/ray/session_latest")
    return init_seconds, session_dir


def stop_ray(session_dir):
    """ray.shutdown(), then a wait (up to EXIT_WAIT_CAP_SECONDS) until no process of the
    session and no child of ours is left. The wait is the runner's check, not Ray Tune's
    work: callers record it apart and the reports keep it out of the wall they compare
    (issue 15 item 12). Returns (shutdown seconds, wait seconds, [(pid, cmdline)] left)."""
    import ray
    t = time.perf_counter()
    ray.shutdown()
    shutdown_seconds = time.perf_counter() - t
    t_wait = time.perf_counter()
    deadline = time.monotonic() + EXIT_WAIT_CAP_SECONDS
    while True:
        left = session_processes(session_dir) + [(p, "child") for p in child_processes()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return shutdown_seconds, time.perf_counter() - t_wait, left


def child_processes():
    """Live descendants of this process (walks /proc ppid links)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(d))
    out, stack = [], list(children.get(os.getpid(), []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(ap, workers_help="concurrent trials (= CPUs)", threads_per="trial")
    ap.add_argument("--copy-data", action="store_true",
                    help="each trial copies the data into its own torch tensors "
                         "(torch.tensor) instead of zero-copy views of the object store")
    ap.add_argument("--data-passing", choices=("object_store", "per_trial"),
                    default="object_store",
                    help="object_store: the driver loads the data once and passes it with "
                         "tune.with_parameters (system ray_tune); per_trial: each trial loads "
                         "the store itself, as in Ray Tune's PyTorch tutorials "
                         "(system ray_tune_load)")
    ap.add_argument("--storage", help="Tune storage dir (default: a temp dir, removed)")
    ap.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                    help="fifo: every trial trains --epochs epochs (the default); asha: "
                         "Tune's ASHAScheduler stops trials early")
    ap.add_argument("--grace-period", type=int, help="asha: grace_period in epochs (default 1)")
    ap.add_argument("--reduction-factor", type=float,
                    help="asha: reduction_factor (default 4, Tune's)")
    ap.add_argument("--max-t", type=int, help="asha: max_t in epochs (default --epochs)")
    args = ap.parse_args()
    asha = args.scheduler == "asha"
    knobs = (args.grace_period, args.reduction_factor, args.max_t)
    if not asha and any(k is not None for k in knobs):
        ap.error("--grace-period, --reduction-factor and --max-t go with --scheduler asha")
    if args.grace_period is None:
        args.grace_period = 1
    if args.reduction_factor is None:
        args.reduction_factor = 4.0
    max_t = args.max_t if args.max_t is not None else args.epochs
    if asha and not 1 <= args.grace_period <= max_t <= args.epochs:
        ap.error("--scheduler asha needs 1 <= --grace-period <= --max-t <= --epochs")
    per_trial = args.data_passing == "per_trial"
    if per_trial and args.copy_data:
        ap.error("--copy-data goes with --data-passing object_store only")

    t_start = time.perf_counter()
    process_start_time = time.time()
    configs = common.load_configs(args.configs, args.max_configs)
    t = time.perf_counter()
    if per_trial:  # the driver reads meta.json only; the trials load the data
        data = None
        meta = common.read_meta(args.store)
        n_train = sum(common.split_sizes(meta, "train"))
        n_val = sum(common.split_sizes(meta, "val"))
        data_bytes = common.split_nbytes(meta, n_train + n_val)
    else:
        data = common.load_store(args.store)
        meta = data["meta"]
        n_train = int(data["x_train"].shape[0])
        n_val = int(data["x_val"].shape[0])
        data_bytes = common.data_nbytes(data)
    load_seconds = time.perf_counter() - t

    import ray
    from ray import tune

    ray_init_seconds, session_dir = start_ray(args)
    ray_version = ray.__version__

    storage = args.storage or tempfile.mkdtemp(prefix="peers_ray_tune_")
    t = time.perf_counter()
    if per_trial:
        # Only the path travels; each trial loads the store (Ray Tune's tutorial pattern).
        trainable = tune.with_parameters(trial_fn, store=os.path.abspath(args.store))
    else:
        # with_parameters puts `data` in the object store once; trials get it from there.
        trainable = tune.with_parameters(trial_fn, data=data)
    trainable = tune.with_resources(trainable, {"cpu": 1})
    put_seconds = time.perf_counter() - t
    # The driver's own copy is no longer needed: drop it, so that the run holds one copy
    # (the object store's) rather than two.
    del data
    gc.collect()

    param_space = {
        "model": tune.grid_search(configs),
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "copy_data": bool(args.copy_data),
    }
    scheduler = None
    if asha:
        from ray.tune.schedulers import ASHAScheduler
        # metric and mode come from TuneConfig; one tune.report per epoch, so
        # training_iteration counts epochs.
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=max_t,
                                  grace_period=args.grace_period,
                                  reduction_factor=args.reduction_factor)
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(max_concurrent_trials=args.workers, num_samples=1,
                                    metric="val_accuracy", mode="max", scheduler=scheduler),
        run_config=tune.RunConfig(name="peers_ray_tune", storage_path=storage,
                                  verbose=0 if args.quiet else 1),
    )
    t = time.perf_counter()
    fit_start_wall = time.time()
    results = tuner.fit()
    fit_seconds = time.perf_counter() - t

    per_model, errors, trials = [], [], []
    for r in results:
        if r.error is not None:
            errors.append({"config": r.config.get("model"), "error": repr(r.error)[:2000]})
            continue
        df = r.metrics_dataframe
        rows = df.sort_values("epoch").to_dict("records")
        keys = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                "train_seconds", "eval_seconds", "train_samples_per_second",
                "train_cpu_seconds", "train_samples_per_cpu_second")
        if asha:  # when each epoch's result was known (time to reach an accuracy)
            keys += ("report_time",)
        hist = [{k: row[k] for k in keys} for row in rows]
        for h in hist:
            h["epoch"] = int(h["epoch"])
        last = rows[-1]
        per_model.append({"id": int(last["model_id"]), "history": hist,
                          "train_seconds": sum(h["train_seconds"] for h in hist),
                          "eval_seconds": sum(h["eval_seconds"] for h in hist)})
        trials.append({
            "id": int(last["model_id"]), "pid": int(last["pid"]),
            "start_after_fit_seconds": float(last["trial_start_time"]) - fit_start_wall,
            "end_after_fit_seconds": float(last["report_time"]) - fit_start_wall,
            "torch_threads": int(last["torch_threads"]),
            "openblas_corename": last["openblas_corename"],
            "openblas_coretype_env": last["openblas_coretype_env"],
            "omp_num_threads_env": last["omp_num_threads_env"],
            "torch_version": last["torch_version"],
            "load_seconds": float(last["trial_load_seconds"]),
            "data_bytes": int(last["trial_data_bytes"]),
        })
    per_model.sort(key=lambda m: m["id"])
    trials.sort(key=lambda m: m["id"])

    # No process left behind (stop_ray); bench/report.py keeps the wait out of the wall.
    shutdown_seconds, exit_wait_seconds, left = stop_ray(session_dir)
    cleanup_seconds = shutdown_seconds + exit_wait_seconds
    if not args.storage:
        shutil.rmtree(storage, ignore_errors=True)
    wall = time.perf_counter() - t_start

    done_models = len(per_model)
    epochs_trained = sum(len(m["history"]) for m in per_model)
    # fifo: every completed trial trained --epochs epochs (n_train * epochs * models).
    train_samples = n_train * (epochs_trained if asha else args.epochs * done_models)
    compute = sum(m["train_seconds"] for m in per_model)
    trial_busy = sum(m["train_seconds"] + m["eval_seconds"] for m in per_model)
    # The driver trains nothing and does not import torch itself (that would add ~200 MB
    # to its RSS); BLAS and torch facts come from the trials.
    blas = {"driver_openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE"),
            "openblas_coretype_origin": os.environ.get("CEREBRO_PEER_CORETYPE_ORIGIN"),
            "trial_openblas_corenames": sorted({t["openblas_corename"] for t in trials})}
    best = common.best_of(per_model) if per_model else None
    if per_trial:
        # Copies held at once = the most trials alive at the same moment (from each trial's
        # start to its last report; its arrays go when the function returns).
        events = sorted([(t["start_after_fit_seconds"], 1) for t in trials]
                        + [(t["end_after_fit_seconds"], -1) for t in trials],
                        key=lambda e: (e[0], e[1]))
        copies = alive = 0
        for _, d in events:
            alive += d
            copies = max(copies, alive)
        held = sum(sorted((t["data_bytes"] for t in trials), reverse=True)[:copies])
        trial_loads = [t["load_seconds"] for t in trials]
        load_seconds = sum(trial_loads)  # all the loading work, over the trials
        data_passing = ("per trial: each trial loads the store itself (Ray Tune tutorial "
                        "load_data() pattern); the driver passes the path only")
    else:
        copies = 1 + (args.workers if args.copy_data else 0)
        held = data_bytes * copies
        trial_loads = None
        data_passing = ("tune.with_parameters (object store, one copy); trials use "
                        + ("per-trial torch.tensor copies" if args.copy_data
                           else "zero-copy torch.from_numpy views"))
    result = {
        "system": "ray_tune_load" if per_trial else "ray_tune",
        "mode": (f"Ray Tune trials, {args.workers} concurrent, 1 CPU each, "
                 + ("each trial loads the data" if per_trial else "data via the object store")
                 + (f", ASHAScheduler (grace_period {args.grace_period}, reduction_factor "
                    f"{args.reduction_factor:g}, max_t {max_t})" if asha else "")),
        "store": os.path.abspath(args.store),
        "configs": os.path.abspath(args.configs),
        "num_models": len(configs),
        "completed_models": done_models,
        "epochs": args.epochs,
        "seed": args.seed,
        "workers": args.workers,
        "wall_seconds": wall,
        # time.time() when main() began (after the BLAS re-exec, before any import of ray).
        "process_start_time": process_start_time,
        "fit_start_time": fit_start_wall,
        "scheduler": ({"name": "asha", "time_attr": "training_iteration", "max_t": max_t,
                       "grace_period": args.grace_period,
                       "reduction_factor": args.reduction_factor,
                       "metric": "val_accuracy", "mode": "max"} if asha else {"name": "fifo"}),
        "epochs_trained": epochs_trained,
        # After ray.shutdown(): the wait for the session's processes to exit (the cap is
        # EXIT_WAIT_CAP_SECONDS); part of wall_seconds, not of the compared wall.
        "exit_wait_seconds": exit_wait_seconds,
        "exit_wait_cap_seconds": EXIT_WAIT_CAP_SECONDS,
        "load_seconds": load_seconds,
        "train_wall_seconds": fit_seconds,
        "train_samples": train_samples,
        "samples_per_second": train_samples / wall,
        "train_loop_samples_per_second": train_samples / compute if compute else None,
        "best": best,
        "per_model": per_model,
        "errors": errors,
        # object_store: one copy in the object store (shared memory, mapped read-only by
        # each trial); with --copy-data each concurrent trial holds its own copy on top.
        # per_trial: one private copy per trial, as many as overlapped (measured).
        "data_bytes_held": held,
        "data_copies": copies,
        "data_bytes_one_copy": data_bytes,
        "data_passing": data_passing,
        "data_passing_mode": args.data_passing,
        "trial_load_seconds": trial_loads,
        "train_examples": n_train,
        "val_examples": n_val,
        "threads": args.threads,
        "flush_denormal": True,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "blas": blas,
        "trials": trials,
        "tune_overhead": {
            "ray_init_seconds": ray_init_seconds,
            "with_parameters_put_seconds": put_seconds,
            "fit_seconds": fit_seconds,
            "trial_busy_seconds_sum": trial_busy,
            "ideal_fit_seconds": trial_busy / min(args.workers, max(done_models, 1)),
            "fit_minus_ideal_seconds": fit_seconds - trial_busy / min(args.workers,
                                                                      max(done_models, 1)),
            "first_trial_start_after_fit_seconds":
                min((t["start_after_fit_seconds"] for t in trials), default=None),
            "shutdown_seconds": shutdown_seconds,
            "shutdown_until_no_processes_seconds": cleanup_seconds,
            "exit_wait_seconds": exit_wait_seconds,
            "notes": ("ideal_fit_seconds = sum of in-trial train+eval time / concurrent "
                      "trials; the difference is Tune's scheduling, actor start-up, "
                      "object fetch, reporting and imbalance"),
        },
        "ray_session_dir": session_dir,
        "leftover_processes": [{"pid": p, "cmdline": c} for p, c in left],
        "ray_version": ray_version,
        "torch_version": trials[0]["torch_version"] if trials else None,
        "driver_imported_torch": "torch" in sys.modules,
        "machine": common.machine_info(),
    }
    common.write_json(args.out, result)
    if best:
        print(f"{result['system']}: {done_models}/{len(configs)} model(s) x {args.epochs} epoch(s) on "
              f"{args.workers} workers in {wall:.1f} s (fit {fit_seconds:.1f} s, init "
              f"{ray_init_seconds:.1f} s, shutdown {shutdown_seconds:.1f} s), "
              f"{result['samples_per_second']:.0f} samples/s, best model {best['id']} "
              f"val_accuracy {best['val_accuracy']:.4f}; data copies held {copies}; "
              f"leftover processes: {len(left)} -> "
              f"{args.out}", flush=True)
    if errors or left:
        print(f"ray_tune: {len(errors)} trial error(s), {len(left)} leftover process(es); "
              f"see {args.out}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
