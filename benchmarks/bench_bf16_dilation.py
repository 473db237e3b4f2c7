"""Packed bf16 training step of the model-1 grid's dilated rows: oneDNN's bf16 weight gradient
(wrong on AVX-512-bf16 CPUs without AMX) vs the fp32 weight gradient that replaces it.

    python benchmarks/bench_bf16_dilation.py --rounds 6 --repeats 10

Builds the packed ``dil-l2`` model (and a ``dil+gc-l2`` one: dilation 2 and 2 groups), 5 folds,
batch 10, channels_last, like the engine, and times forward + backward (no optimiser step: the
old path's NaN gradients would spoil the weights) with the fix on and off, alternating A/B per
round since the machine is shared; per path the median over rounds of each round's minimum.
Also times the affected conv alone (its forward + backward), the same way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from profile_step import best_of  # noqa: E402  (benchmarks/ is the script's folder)

from ferablate.config import SequentialConfig  # noqa: E402
from ferablate.engine._trainer import autocast_context  # noqa: E402
from ferablate.models import create_model  # noqa: E402
from ferablate.models._layers import Conv2d  # noqa: E402

ROWS: dict[str, list[dict[str, Any]]] = {
    "dil-l2": [{"channels": 8, "pool": False}, {"channels": 16, "dilation": 2}, {"channels": 32},
               {"channels": 64}],
    "dil+gc-l2": [{"channels": 8, "pool": False}, {"channels": 16, "dilation": 2, "groups": 2},
                  {"channels": 32}, {"channels": 64}],
}  # fmt: skip


def time_row(
    convs: list[dict[str, Any]], folds: int, batch: int, rounds: int, repeats: int
) -> tuple[str, dict[str, float]]:
    """Median over rounds (old/new alternating) of the step's and the dilated conv's best time."""
    config = SequentialConfig(convs=convs, dense=(32,), dropout=0.2, activation="elu")
    torch.manual_seed(0)
    model = create_model(config, folds=folds).to(memory_format=torch.channels_last).train()
    x = torch.rand(batch, folds, 48, 48).contiguous(memory_format=torch.channels_last)
    conv = next(m for m in model.modules() if isinstance(m, Conv2d) and m.dilation != (1, 1))
    conv_in = torch.randn(batch, conv.in_channels, 48, 48)
    conv_in = conv_in.contiguous(memory_format=torch.channels_last)
    cpu = torch.device("cpu")

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with autocast_context(cpu, "bf16"):
            out = model(x)
        out.float().square().mean().backward()

    def layer() -> None:
        conv.zero_grad(set_to_none=True)
        with autocast_context(cpu, "bf16"):
            out = conv(conv_in)
        out.float().sum().backward()

    fixed = Conv2d._fp32_weight_grad
    times: dict[str, list[float]] = {
        f"{path} {what}": [] for path in ("old", "new") for what in ("step", "conv")
    }
    try:
        for _ in range(rounds):
            for path in ("old", "new"):
                old = path == "old"
                Conv2d._fp32_weight_grad = (lambda self, i: False) if old else fixed  # type: ignore[method-assign]
                times[f"{path} step"].append(best_of(step, repeats, warmups=1))
                times[f"{path} conv"].append(best_of(layer, repeats, warmups=1))
    finally:
        Conv2d._fp32_weight_grad = fixed  # type: ignore[method-assign]
    name = f"{conv.in_channels}->{conv.out_channels} groups {conv.groups}"
    return name, {key: statistics.median(values) for key, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"threads={torch.get_num_threads()} load {os.getloadavg()[0]:.2f}")
    for row, convs in ROWS.items():
        conv, med = time_row(convs, args.folds, args.batch, args.rounds, args.repeats)
        change = 100 * (med["new step"] / med["old step"] - 1)
        print(f"{row}: step fwd+bwd old {med['old step']:.1f} ms, new {med['new step']:.1f} ms "
              f"({change:+.0f}%); its dilated conv ({conv}, 48x48) old {med['old conv']:.1f} ms, "
              f"new {med['new conv']:.1f} ms")  # fmt: skip
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
