"""The Fashion-MNIST MLP grid from Python: the models of examples/fashion_mnist/mlp_grid.yaml
(4 MLPs: 2 learning rates x 2 weight decays), trained with Model Hopper Parallelism on 2
workers, then ranked as a DataFrame. After scripts/setup.sh:

    .venv-py/bin/python examples/python/fashion_mnist.py [--epochs N]
"""

import argparse

import cerebro


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="run directory (default runs/<name>-<time>-<pid>)")
    args = ap.parse_args()

    exp = cerebro.Experiment(
        data="fashion_mnist",  # Debian's dataset-fashion-mnist; validated on its test set
        params={
            "model": "mlp",
            "hidden": [1000, 500],
            "activation": "relu",
            "optimizer": "adam",
            "lr": cerebro.choice(1e-3, 1e-4),
            "weight_decay": cerebro.choice(1e-4, 1e-5),
            "batch_size": 128,
        },
        search=cerebro.Grid(),
        epochs=args.epochs, workers=args.workers, seed=2026,
        name="fashion_mnist_mlp_grid")
    result = exp.run(out=args.out)

    print(result.to_pandas()[["model_id", "rank", "lr", "weight_decay", "val_accuracy"]]
          .to_string(index=False))
    print(f"best: model {result.best.id} {result.best.params} "
          f"val accuracy {result.best.metrics['val_accuracy']:.4f}")
    print(f"run directory: {result.run_dir} (cerebro report {result.run_dir})")


if __name__ == "__main__":
    main()
