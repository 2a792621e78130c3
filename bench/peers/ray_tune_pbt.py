#!/usr/bin/env python3
"""The PBT peer: Ray Tune's PopulationBasedTraining (ray[tune] 2.60) over the initial
population of a Cerebro PBT run, with the spec's search space and PBT knobs.

  .venv-bench/bin/python bench/peers/ray_tune_pbt.py --spec SPEC --store DIR \
      --configs models.json --epochs E --workers W --out result.json [--seed S] \
      [--mode sync|async] [--max-configs K]

The population: the configs of models.json (Cerebro's initial population: `cerebro
configs SPEC`, or the models of a PBT run directory whose origin is "search"), one Tune
trial each, W at a time (1 CPU and 1 torch thread each), data via the object store
(tune.with_parameters), the model, optimizer and training loop of common.py. The
scheduler: PopulationBasedTraining(time_attr="training_iteration" (= epochs),
perturbation_interval, quantile_fraction, resample_probability, perturbation_factors,
burn_in_period from the spec's search section, hyperparam_mutations = the spec's searched
params (loguniform [a, b] -> tune.loguniform(1e-a, 1e-b), uniform -> tune.uniform, choice
-> the list)), synch=True by default (--mode sync: Cerebro's PBT decides at a barrier too;
--mode async is Ray's default). A perturbed value is clamped to its bounds afterwards
(custom_explore_fn), as Cerebro's explore does (Ray's alone does not clamp). The trainable
follows Ray Tune's PBT guide for the function API: it reports every epoch, with a
tune.Checkpoint (model and optimizer state) every perturbation_interval epochs, and on a
restore loads the checkpoint and sets the optimizer's lr / weight_decay to the (explored)
config's. The explore draws come from Python's `random` and NumPy's global generator,
seeded from --seed.

Cluster set-up, output format and the exit wait are ray_tune.py's (imported): a local
ray.init(num_cpus=W) started and shut down here, no process of its session left behind.
The result JSON adds, per model (trial), `lineage` [{epoch, source, lr, weight_decay}]:
after `epoch` epochs it continued from model `source`'s checkpoint with those params.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import common  # noqa: E402

common.ensure_blas_env()  # may re-exec with OPENBLAS_CORETYPE=SkylakeX (workers inherit it)
# ray_tune.py's module set-up: Ray's environment (local cluster, no auth, no usage stats),
# PYTHONPATH for the trials; and its session/child process checks.
import ray_tune  # noqa: E402

import argparse  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

STATE_FILE = "state.pt"


def pbt_trial(config, data=None):
    """One Tune trial: one member of the population. Starts from the init seed of its
    model id, or from a checkpoint (its own after a pause, another trial's after an
    exploit) with the config's lr and weight_decay.

    The member's model id comes from its trial id ("<prefix>_<index>", the index of its
    grid_search value, i.e. of its config): an exploit replaces the whole config with the
    source trial's (explored), config["model"] included, so after one the config names
    the source. The driver checks the mapping (each trial's epoch-1 config is its own)."""
    import os
    import tempfile
    import time
    import common
    import torch
    from ray import tune

    t_start = time.time()
    common.configure_torch(config["threads"])
    tensors = common.to_tensors(data)
    meta = data["meta"]
    trial_id = tune.get_context().get_trial_id()
    model_id = int(config["members"][int(trial_id.rsplit("_", 1)[1])])
    params = dict(config["model"]["params"])
    for key in config["explored"]:
        params[key] = config[key]
    seed, epochs, interval = config["seed"], config["epochs"], config["interval"]
    torch.manual_seed(common.derive_seed(seed, "model.init", [model_id]))
    model = common.build_model(params, meta["feature_shape"], int(meta["num_classes"]))
    opt = common.make_optimizer(params, model.parameters())
    start, lineage = 1, []
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, STATE_FILE))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])  # also restores the saver's lr / decay:
        for group in opt.param_groups:            # the explored config's replace them
            group["lr"] = float(params.get("lr", 1e-3))
            group["weight_decay"] = float(params.get("weight_decay", 0.0))
        start, lineage = int(state["epoch"]) + 1, list(state["lineage"])
        if state["trial_id"] != trial_id:  # an exploit, not this trial's own pause
            lineage.append({"epoch": int(state["epoch"]), "source": int(state["model_id"]),
                            **{k: params[k] for k in config["explored"]}})
    blas = common.blas_info()
    static = {
        "model_id": model_id, "config_model_id": int(config["model"]["id"]),
        "pid": os.getpid(), "trial_start_time": t_start,
        "torch_threads": torch.get_num_threads(), "torch_version": torch.__version__,
        "openblas_corename": blas["openblas_corename"] or "",
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS", ""),
        "trial_data_bytes": common.data_nbytes(data),
        "lineage_json": common.json.dumps(lineage),
        **{"param_" + k: params[k] for k in config["explored"]},
    }
    batch_size = common._int(params.get("batch_size", 32), "batch_size")
    for epoch in range(start, epochs + 1):
        record = common.train_epoch(model, opt, tensors, batch_size, model_id, epoch, seed)
        metrics = dict(record, **static, report_time=time.time())
        if epoch % interval == 0 and epoch < epochs:  # PBT's guide: every interval
            with tempfile.TemporaryDirectory() as d:
                torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                            "epoch": epoch, "model_id": model_id, "trial_id": trial_id,
                            "lineage": lineage},
                           os.path.join(d, STATE_FILE))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(metrics)


def search_space(spec):
    """{name: (tune domain or list, (low, high) or None)} of the spec's searched params."""
    from ray import tune
    out = {}
    for name, value in spec["params"].items():
        if not isinstance(value, dict):
            continue  # a fixed param
        if set(value) == {"loguniform"}:
            lo, hi = (10.0 ** float(v) for v in value["loguniform"])
            out[name] = (tune.loguniform(lo, hi), (lo, hi))
        elif set(value) == {"uniform"}:
            lo, hi = (float(v) for v in value["uniform"])
            out[name] = (tune.uniform(lo, hi), (lo, hi))
        elif set(value) == {"choice"}:
            out[name] = (list(value["choice"]), None)
        else:
            raise ValueError(f"params.{name}: {value} (this peer knows loguniform, uniform, "
                             "choice)")
    return out


def pbt_options(spec):
    """The spec's PBT knobs with Cerebro's defaults (src/cerebro/search/pbt.h)."""
    s = spec.get("search", {})
    if s.get("method") != "pbt":
        raise ValueError("search.method: expected pbt")
    return {"perturbation_interval": int(s.get("perturbation_interval", 1)),
            "quantile_fraction": float(s.get("quantile_fraction", 0.25)),
            "resample_probability": float(s.get("resample_probability", 0.25)),
            "perturbation_factors": tuple(float(f) for f in
                                          s.get("perturbation_factors", (1.2, 0.8))),
            "burn_in_period": int(s.get("burn_in_period", 0))}


def trial_history(result):
    """A trial's per-epoch records, one per epoch (the last report of each: a trial that
    resumes from a checkpoint never repeats an epoch, but keep that robust)."""
    df = result.metrics_dataframe
    by_epoch = {}
    for row in df.to_dict("records"):
        by_epoch[int(row["epoch"])] = row
    return [by_epoch[e] for e in sorted(by_epoch)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(ap, workers_help="concurrent trials (= CPUs)", threads_per="trial")
    ap.add_argument("--spec", required=True,
                    help="the Cerebro PBT spec: its searched params and search.* knobs")
    ap.add_argument("--mode", choices=("sync", "async"), default="sync",
                    help="PopulationBasedTraining(synch=...): sync (a barrier, as Cerebro's "
                         "PBT) or async (Ray's default)")
    ap.add_argument("--storage", help="Tune storage dir (default: a temp dir, removed)")
    args = ap.parse_args()

    import yaml
    t_start = time.perf_counter()
    with open(args.spec) as f:
        spec = yaml.safe_load(f)
    knobs = pbt_options(spec)
    configs = common.load_configs(args.configs, args.max_configs)
    t = time.perf_counter()
    data = common.load_store(args.store)
    meta = data["meta"]
    n_train, n_val = int(data["x_train"].shape[0]), int(data["x_val"].shape[0])
    data_bytes = common.data_nbytes(data)
    load_seconds = time.perf_counter() - t

    import numpy as np
    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    space = search_space(spec)
    explored = sorted(space)
    for c in configs:
        missing = [k for k in explored if k not in c["params"]]
        if missing:
            raise ValueError(f"{args.configs}: model {c['id']} has no {missing}")
    # The explore draws (Python's random) and resamples (Tune domains: NumPy's global
    # generator) happen in this process.
    random.seed(common.derive_seed(args.seed, "peer.pbt"))
    np.random.seed(common.derive_seed(args.seed, "peer.pbt") % (1 << 32))

    def clamp(config):  # Cerebro's explore keeps a perturbed number inside its bounds
        for k, (_, bounds) in space.items():
            if bounds is not None:
                config[k] = min(max(float(config[k]), bounds[0]), bounds[1])
        return config

    ray_init_seconds, session_dir = ray_tune.start_ray(args)

    storage = args.storage or tempfile.mkdtemp(prefix="peers_ray_tune_pbt_")
    t = time.perf_counter()
    trainable = tune.with_resources(tune.with_parameters(pbt_trial, data=data), {"cpu": 1})
    put_seconds = time.perf_counter() - t
    del data  # the object store's copy is the one the trials read
    gc.collect()

    param_space = {
        "model": tune.grid_search(configs),
        "explored": explored,
        "members": [c["id"] for c in configs],  # by trial index (pbt_trial)
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "interval": knobs["perturbation_interval"],
    }
    for k in explored:  # each trial starts from its own config's values
        param_space[k] = tune.sample_from(lambda config, k=k: config["model"]["params"][k])
    scheduler = PopulationBasedTraining(
        time_attr="training_iteration",
        perturbation_interval=knobs["perturbation_interval"],
        burn_in_period=knobs["burn_in_period"],
        hyperparam_mutations={k: space[k][0] for k in explored},
        quantile_fraction=knobs["quantile_fraction"],
        resample_probability=knobs["resample_probability"],
        perturbation_factors=knobs["perturbation_factors"],
        custom_explore_fn=clamp,
        synch=args.mode == "sync",
    )
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        # W trials at a time by resources (num_cpus=W, 1 CPU each), as Ray's PBT examples
        # do: max_concurrent_trials would count paused members, so in sync mode the ones
        # not yet started would never start (measured: the started ones loop forever).
        # reuse_actors stays Tune's default (False), though Tune advises it for PBT with more
        # trials than slots: with synch=True it stalled (smoke, 8 trials on 2 CPUs: the four
        # members not yet started never started, "no trial is running" for minutes).
        tune_config=tune.TuneConfig(scheduler=scheduler, metric="val_accuracy", mode="max",
                                    num_samples=1),
        run_config=tune.RunConfig(name="peers_ray_tune_pbt", storage_path=storage,
                                  stop={"training_iteration": args.epochs},
                                  verbose=0 if args.quiet else 1),
    )
    t = time.perf_counter()
    fit_start_wall = time.time()
    results = tuner.fit()
    fit_seconds = time.perf_counter() - t

    keys = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
            "train_seconds", "eval_seconds", "train_samples_per_second", "train_cpu_seconds",
            "train_samples_per_cpu_second")
    per_model, errors, trials = [], [], []
    for r in results:
        if r.error is not None:
            errors.append({"config": r.config.get("model"), "error": repr(r.error)[:2000]})
            continue
        rows = trial_history(r)
        hist = [{k: row[k] for k in keys} for row in rows]
        for h, row in zip(hist, rows):
            h["epoch"] = int(h["epoch"])
            h["params"] = {k: row["param_" + k] for k in explored}
        last = rows[-1]
        if int(rows[0]["config_model_id"]) != int(rows[0]["model_id"]) or rows[0]["epoch"] != 1:
            errors.append({"config": r.config.get("model"), "error": (
                f"trial {r.path}: its epoch-1 config is model {rows[0]['config_model_id']}, "
                f"its trial index says {rows[0]['model_id']}")})
            continue
        per_model.append({"id": int(last["model_id"]), "history": hist,
                          "lineage": common.json.loads(last["lineage_json"]),
                          "final_params": {k: last["param_" + k] for k in explored},
                          "train_seconds": sum(h["train_seconds"] for h in hist),
                          "eval_seconds": sum(h["eval_seconds"] for h in hist)})
        trials.append({"id": int(last["model_id"]), "pid": int(last["pid"]),
                       "end_after_fit_seconds": float(last["report_time"]) - fit_start_wall,
                       "torch_threads": int(last["torch_threads"]),
                       "openblas_corename": last["openblas_corename"],
                       "omp_num_threads_env": last["omp_num_threads_env"],
                       "torch_version": last["torch_version"],
                       "data_bytes": int(last["trial_data_bytes"])})
    per_model.sort(key=lambda m: m["id"])
    trials.sort(key=lambda m: m["id"])

    # As ray_tune.py; bench/pbt/report.py keeps the exit wait out of the compared wall.
    shutdown_seconds, exit_wait_seconds, left = ray_tune.stop_ray(session_dir)
    if not args.storage:
        shutil.rmtree(storage, ignore_errors=True)
    wall = time.perf_counter() - t_start

    done = [m for m in per_model if m["history"] and m["history"][-1]["epoch"] == args.epochs]
    train_samples = n_train * sum(len(m["history"]) for m in per_model)
    trial_busy = sum(m["train_seconds"] + m["eval_seconds"] for m in per_model)
    best = common.best_of(per_model) if per_model else None
    final = max(done, key=lambda m: m["history"][-1]["val_accuracy"], default=None)
    result = {
        "system": "ray_tune_pbt",
        "mode": (f"Ray Tune PopulationBasedTraining (synch={args.mode == 'sync'}), "
                 f"{args.workers} concurrent trials, 1 CPU each, data via the object store"),
        "store": os.path.abspath(args.store),
        "configs": os.path.abspath(args.configs),
        "spec": os.path.abspath(args.spec),
        "pbt": dict(knobs, perturbation_factors=list(knobs["perturbation_factors"]),
                    hyperparam_mutations={k: spec["params"][k] for k in explored},
                    synch=args.mode == "sync", clamped_to_bounds=True,
                    num_perturbations=scheduler._num_perturbations,
                    num_checkpoints=scheduler._num_checkpoints),
        "num_models": len(configs),
        "completed_models": len(done),
        "epochs": args.epochs,
        "seed": args.seed,
        "workers": args.workers,
        "wall_seconds": wall,
        "exit_wait_seconds": exit_wait_seconds,
        "exit_wait_cap_seconds": ray_tune.EXIT_WAIT_CAP_SECONDS,
        "load_seconds": load_seconds,
        "train_wall_seconds": fit_seconds,
        "train_samples": train_samples,
        "samples_per_second": train_samples / wall,
        "best": best,
        "final_best": ({"id": final["id"], "val_accuracy": final["history"][-1]["val_accuracy"],
                        "params": final["final_params"], "lineage": final["lineage"]}
                       if final else None),
        "per_model": per_model,
        "errors": errors,
        "data_bytes_held": data_bytes,
        "data_copies": 1,
        "data_bytes_one_copy": data_bytes,
        "data_passing": "tune.with_parameters (object store, one copy); zero-copy views",
        "train_examples": n_train,
        "val_examples": n_val,
        "threads": args.threads,
        "trials": trials,
        "tune_overhead": {
            "ray_init_seconds": ray_init_seconds,
            "with_parameters_put_seconds": put_seconds,
            "fit_seconds": fit_seconds,
            "trial_busy_seconds_sum": trial_busy,
            "ideal_fit_seconds": trial_busy / min(args.workers, max(len(per_model), 1)),
            "shutdown_seconds": shutdown_seconds,
            "exit_wait_seconds": exit_wait_seconds,
        },
        "ray_session_dir": session_dir,
        "leftover_processes": [{"pid": p, "cmdline": c} for p, c in left],
        "ray_version": ray.__version__,
        "torch_version": trials[0]["torch_version"] if trials else None,
        "machine": common.machine_info(),
    }
    common.write_json(args.out, result)
    if final:
        print(f"ray_tune_pbt: {len(done)}/{len(configs)} member(s) x {args.epochs} epoch(s) on "
              f"{args.workers} workers in {wall:.1f} s (fit {fit_seconds:.1f} s), "
              f"{scheduler._num_perturbations} perturbation(s); best final model {final['id']} "
              f"val_accuracy {final['history'][-1]['val_accuracy']:.4f}; leftover processes: "
              f"{len(left)} -> {args.out}", flush=True)
    if errors or left or len(done) != len(configs):
        print(f"ray_tune_pbt: {len(errors)} trial error(s), {len(left)} leftover process(es), "
              f"{len(configs) - len(done)} member(s) short of {args.epochs} epochs; see "
              f"{args.out}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
