"""A user-defined torch.nn.Module, scripted per architecture and trained through the
torchscript family; its exported ScriptModule reproduces the reported validation
accuracy (within 0.1 points)."""

import numpy as np
import pytest

import cerebro
from conftest import fashion_subset, make_blobs

torch = pytest.importorskip("torch")


class Tiny(torch.nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.ReLU(),
                                        torch.nn.Linear(width, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def make_net(cfg):
    torch.manual_seed(cfg["width"])
    return Tiny(cfg["width"])


def test_user_module_trains_and_exports(tmp_path, cli):
    X, y = make_blobs(300, seed=4)
    Xv, yv = make_blobs(120, seed=4)
    exp = cerebro.Experiment((X, y), {"width": cerebro.choice(4, 8), "lr": cerebro.choice(1e-2, 3e-3),
                                      "batch_size": 16},
                             model=make_net, validation=(Xv, yv), epochs=2, workers=2, seed=1,
                             order="fixed")
    assert exp.spec()["params"]["model"] == "torchscript"
    r = exp.run(out=tmp_path / "run", quiet=True)
    df = r.to_pandas()
    assert len(df) == 4 and list(df["status"]) == ["completed"] * 4
    assert sorted((tmp_path / "run.inputs" / "models").iterdir()) == [
        tmp_path / "run.inputs" / "models" / "net-4.pt", tmp_path / "run.inputs" / "models" / "net-8.pt"]
    best = r.best
    try:
        module = best.model
    except RuntimeError as e:
        if "export" in str(e) and "unknown" in str(e).lower():
            pytest.skip(f"this build's cerebro has no export command: {e}")
        raise
    assert isinstance(module, torch.jit.ScriptModule)
    accuracy = float((best.predict(Xv) == yv).mean())
    assert abs(accuracy - best.metrics["val_accuracy"]) <= 0.001


class TinyCnn(torch.nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, 5, stride=4)
        self.head = torch.nn.Linear(channels * 6 * 6, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, 1, 28, 28]
        return self.head(torch.relu(self.conv(x)).flatten(1))


def _reproduces(result, Xv, yv):
    best = result.best
    accuracy = float((best.predict(Xv) == yv).mean())
    assert abs(accuracy - best.metrics["val_accuracy"]) <= 0.001, (accuracy, best.metrics)


def test_user_cnn_on_images_reproduces_its_accuracy(tmp_path):
    train, (Xv, yv) = fashion_subset(400, 200)
    r = cerebro.run(train, {"channels": 4, "lr": 3e-3, "batch_size": 32}, model=lambda c: TinyCnn(
        c["channels"]), validation=(Xv, yv), feature_scale=1 / 255, epochs=1, workers=2, seed=2,
        out=tmp_path / "run", quiet=True)
    _reproduces(r, Xv, yv)


def test_builtin_mlp_export_reproduces_its_accuracy(tmp_path):
    train, (Xv, yv) = fashion_subset(400, 200)
    r = cerebro.run(train, {"model": "mlp", "hidden": [16], "lr": 3e-3, "batch_size": 32},
                    validation=(Xv, yv), feature_scale=1 / 255, epochs=1, workers=2, seed=2,
                    out=tmp_path / "run", quiet=True)
    assert isinstance(r.best.model, torch.jit.ScriptModule)
    _reproduces(r, Xv, yv)
