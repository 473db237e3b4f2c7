"""Per-module profile of one packed training step (forward + backward of each module alone).

    python benchmarks/profile_step.py --precision fp32 --repeats 30

Builds the fold-packed model (``report-model1``, 5 folds, batch 10, channels_last, like the
engine), records every top-level module's input with a forward hook, then times each module
alone: forward, and backward with a random output gradient (input gradient on, except for
the first conv whose input is the faces). Times are the minimum of ``--repeats`` runs (the
machine is shared). Also times the whole step (forward + backward + Adam) the same way.

``--wgrad`` instead times, for every conv of the packed model, its weight gradient both ways:
oneDNN's backward-weights kernel (``convolution_backward``, weight and bias only) and im2col +
one batched matmul over groups (``FoldConv2d``'s path for small feature maps, fp32 on a CPU):
the measurement behind ``GEMM_WGRAD_MAX_PIXELS``.

On an AVX-512 machine, ``ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2
MKL_ENABLE_INSTRUCTIONS=AVX2`` makes oneDNN, aten and MKL use their AVX2 kernels: a stand-in
(not a measurement) for an AVX2-only CPU such as an AMD EPYC without AVX-512.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ferablate.engine._trainer import _Adam, autocast_context  # noqa: E402
from ferablate.models import create_model  # noqa: E402
from ferablate.models._layers import _im2col_weight_grad  # noqa: E402


def best_of(call: Callable[[], Any], repeats: int, warmups: int = 2) -> float:
    """Minimum wall time of ``repeats`` calls, in ms (after ``warmups`` warm-up calls)."""
    for _ in range(warmups):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def modules_of(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [
        (f"{part}.{name}", module)
        for part in ("features", "classifier")
        for name, module in getattr(model, part).named_children()
    ]


def module_inputs(
    model: nn.Module, modules: list[tuple[str, nn.Module]], x: torch.Tensor, precision: Any
) -> dict[str, torch.Tensor]:
    """Each of ``modules``' input during one forward pass of ``model`` on ``x``, by name."""
    inputs: dict[str, torch.Tensor] = {}
    hooks = [
        module.register_forward_hook(lambda m, i, o, name=name: inputs.__setitem__(name, i[0]))
        for name, module in modules
    ]
    with torch.no_grad(), autocast_context(torch.device("cpu"), precision):
        model(x)
    for hook in hooks:
        hook.remove()
    return inputs


def profile(
    model_name: str, folds: int, batch: int, precision: str, repeats: int
) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    model = create_model(model_name, folds=folds).to(memory_format=torch.channels_last).train()
    device = torch.device("cpu")
    dtype_precision: Any = precision
    x = torch.rand(batch, folds, 48, 48).contiguous(memory_format=torch.channels_last)
    inputs = module_inputs(model, modules_of(model), x, dtype_precision)
    rows = []
    for name, module in modules_of(model):
        source = inputs[name].detach()
        needs_grad = name != "features.0"
        if getattr(module, "inplace", False):  # in-place ReLU: a leaf input would refuse it
            module.inplace = False  # same arithmetic, one output tensor more
        inp = source.clone(memory_format=torch.preserve_format).requires_grad_(needs_grad)

        def forward(module: nn.Module = module, inp: torch.Tensor = inp) -> torch.Tensor:
            with autocast_context(device, dtype_precision):
                return module(inp)

        out = forward()
        grad = torch.randn_like(out)

        def fwd_bwd(
            forward: Callable[[], torch.Tensor] = forward, grad: torch.Tensor = grad
        ) -> None:
            forward().backward(grad)

        with torch.no_grad():
            fwd_ms = best_of(lambda forward=forward: forward(), repeats)  # type: ignore[misc]
        fwd_bwd_ms = best_of(fwd_bwd, repeats)
        rows.append({
            "module": name, "kind": repr(module).split("\n")[0][:60],
            "in": tuple(source.shape), "out": tuple(out.shape),
            "fwd_ms": fwd_ms, "fwd_bwd_ms": fwd_bwd_ms,
        })  # fmt: skip
    optimizer = _Adam(model, 1e-4)
    y = torch.randint(0, 7, (batch, folds))

    def step() -> None:
        with autocast_context(device, dtype_precision):
            logits = model(x).view(batch, folds, 7).float()
        loss = torch.nn.functional.cross_entropy(
            logits.flatten(0, 1), y.flatten(), reduction="none"
        )
        optimizer.zero_grad()
        loss.view(-1, folds).mean(0).sum().backward()
        optimizer.step()

    rows.append({"module": "STEP (fwd+bwd+Adam)", "kind": "", "in": (), "out": (),
                 "fwd_ms": float("nan"), "fwd_bwd_ms": best_of(step, repeats)})  # fmt: skip
    return rows


def weight_grad_times(model_name: str, folds: int, batch: int, repeats: int) -> None:
    """Per conv of the packed model: oneDNN's backward-weights time vs im2col + bmm (fp32)."""
    torch.manual_seed(0)
    model = create_model(model_name, folds=folds).to(memory_format=torch.channels_last)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    faces = torch.rand(batch, folds, 48, 48).contiguous(memory_format=torch.channels_last)
    inputs = module_inputs(model, convs, faces, "fp32")
    print(f"{model_name} folds={folds} batch={batch} fp32 threads={torch.get_num_threads()}")
    for name, conv in convs:
        x = inputs[name].detach().contiguous(memory_format=torch.channels_last)
        if conv.stride != (1, 1) or conv.kernel_size[0] == 1:
            continue
        grad = torch.randn_like(conv(x)).contiguous(memory_format=torch.channels_last)
        args = (conv.stride, conv.padding, conv.dilation, False, [0, 0], conv.groups)
        onednn = best_of(
            lambda conv=conv, x=x, grad=grad, args=args: torch.ops.aten.convolution_backward(
                grad, x, conv.weight, [conv.out_channels], *args, [False, True, True]
            ),
            repeats,
        )

        def gemm_grad(
            conv: nn.Conv2d = conv, x: torch.Tensor = x, grad: torch.Tensor = grad
        ) -> None:
            shape, padding, dilation = conv.weight.shape, conv.padding[0], conv.dilation[0]
            _im2col_weight_grad(x, grad, shape, padding, dilation, conv.groups)  # type: ignore[arg-type]
            grad.sum(dim=(0, 2, 3))  # the bias gradient, which oneDNN's call computes too

        gemm = best_of(gemm_grad, repeats)
        print(f"{name:14s} {tuple(x.shape)!s:20s} {conv.kernel_size[0]}x{conv.kernel_size[1]} "
              f"groups {conv.groups:3d}  oneDNN {onednn:7.2f} ms  im2col+bmm {gemm:7.2f} ms  "
              f"{'gemm' if gemm < onednn else 'onednn'}")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="report-model1")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--wgrad", action="store_true", help="weight gradients: oneDNN vs GEMM")
    args = parser.parse_args(argv)
    if args.wgrad:
        weight_grad_times(args.model, args.folds, args.batch, args.repeats)
        return
    load = os.getloadavg()[0]
    rows = profile(args.model, args.folds, args.batch, args.precision, args.repeats)
    print(f"{args.model} folds={args.folds} batch={args.batch} {args.precision} "
          f"threads={torch.get_num_threads()} load {load:.2f} -> {os.getloadavg()[0]:.2f}")  # fmt: skip
    total = sum(r["fwd_bwd_ms"] for r in rows[:-1])
    for r in rows:
        share = 100 * r["fwd_bwd_ms"] / total  # the STEP row: step time / sum of modules
        print(f"{r['module']:22s} {r['kind'][:44]:44s} {r['in']!s:22s} "
              f"fwd {r['fwd_ms']:7.3f}  fwd+bwd {r['fwd_bwd_ms']:7.3f} ms  {share:5.1f}%")  # fmt: skip
    print(f"sum of modules fwd+bwd {total:.2f} ms")


if __name__ == "__main__":
    main()
