#!/usr/bin/env python3
"""Writes the TorchScript files that mlp_widths.yaml trains: one small Fashion-MNIST net
per width, nets/mlp_<width>.pt, next to the spec (or under --out).

Any nn.Module that torch.jit.script accepts will do, as long as forward maps a float32
batch [N, 1, 28, 28] (the data's shape) to [N, 10] logits: Cerebro checks exactly that
with a dry forward before the model trains. The weights saved here are the model's
initial weights (Cerebro does not re-initialise them).

Run with a Python that has torch (on Debian: /usr/bin/python3):
    /usr/bin/python3 examples/torchscript/make_nets.py
    build/cerebro run examples/torchscript/mlp_widths.yaml --out runs/torchscript
"""
import argparse
import os

import torch
from torch import nn

WIDTHS = (64, 128, 256)


class Mlp(nn.Module):
    """Flatten -> Linear -> BatchNorm -> ReLU -> Dropout -> Linear. BatchNorm's running
    statistics are buffers: they travel with the weights from unit to unit."""

    def __init__(self, width: int, classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, width),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Linear(width, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                        help="directory to write nets/ into (default: beside this script)")
    args = parser.parse_args()
    nets = os.path.join(args.out, "nets")
    os.makedirs(nets, exist_ok=True)
    for width in WIDTHS:
        torch.manual_seed(width)  # the same files every time
        path = os.path.join(nets, f"mlp_{width}.pt")
        torch.jit.script(Mlp(width)).save(path)
        print(path)


if __name__ == "__main__":
    main()
