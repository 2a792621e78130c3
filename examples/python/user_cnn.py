"""Your own PyTorch model: a function from a configuration to a torch.nn.Module. Cerebro
scripts one TorchScript file per architecture (here 2 channel widths), trains each with
every learning rate through the `torchscript` model family, and hands back the best as a
loadable ScriptModule. A Fashion-MNIST subset keeps it short:

    .venv-py/bin/python examples/python/user_cnn.py
"""

import torch
from torch import nn

import cerebro


class SmallCnn(nn.Module):
    def __init__(self, channels: int, dropout: float):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(2 * channels * 7 * 7, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, 1, 28, 28]
        return self.head(self.features(x))


def make_net(cfg):
    torch.manual_seed(0)  # the file's weights are the initial ones
    return SmallCnn(cfg["channels"], cfg["dropout"])


def main():
    (X, y), (Xv, yv) = cerebro.load_fashion_mnist("train"), cerebro.load_fashion_mnist("test")
    result = cerebro.run(
        (X[:6000], y[:6000]), validation=(Xv[:2000], yv[:2000]), feature_scale=1 / 255,
        model=make_net,
        params={"channels": cerebro.choice(8, 16), "dropout": 0.25,
                "lr": cerebro.choice(1e-3, 3e-3), "batch_size": 64},
        epochs=2, workers=2, seed=1, name="user_cnn")
    table = result.to_pandas().drop(columns=["model", "model_file", "failure"])
    print(table.to_string(index=False))
    best = result.best
    print("best:", best.params, best.metrics)
    try:
        accuracy = (best.predict(Xv[:2000]) == yv[:2000]).mean()
        print(f"the exported best model on the validation subset: {accuracy:.4f}")
    except RuntimeError as e:  # no `cerebro export` in this build
        print("export unavailable:", e)


if __name__ == "__main__":
    main()
