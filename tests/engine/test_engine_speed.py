"""The engine's speed measures keep results right: fast dropout, alias Adam, the benchmark script."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ferablate.engine import TrialCallback
from ferablate.engine._trainer import _Adam
from ferablate.models import Dropout, create_model

REPO = Path(__file__).resolve().parents[2]


def test_fast_dropout_drops_p_scales_the_rest_and_follows_the_seed() -> None:
    layer = Dropout(0.2).train()
    x = torch.ones(8, 40, 24, 24).contiguous(memory_format=torch.channels_last).requires_grad_()
    torch.manual_seed(3)
    y = layer(x)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert (y == 0).float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert set(y.unique().tolist()) == {0.0, 1.25}
    torch.manual_seed(3)
    assert torch.equal(layer(x), y)  # masks come from the seeded default generator
    assert not torch.equal(layer(x), y)  # and differ call to call
    y.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, y.detach())  # gradient uses the same mask
    assert torch.equal(layer.eval()(x), x)


def test_fast_dropout_masks_are_independent_per_element() -> None:
    torch.manual_seed(0)
    y = Dropout(0.5).train()(torch.ones(64, 4096))
    kept = (y > 0).float()
    # The four 16-bit draws of one 64-bit word must not be correlated.
    neighbours = (kept[:, :-1] * kept[:, 1:]).mean().item()
    assert neighbours == pytest.approx(0.25, abs=0.01)
    assert kept.mean().item() == pytest.approx(0.5, abs=0.01)


def test_alias_adam_updates_channels_last_weights_in_place_like_adam() -> None:
    torch.manual_seed(0)
    # No BatchNorm: a conv bias before BatchNorm gets a ~0 gradient whose rounding noise (which
    # differs between memory layouts) Adam scales up to full-size steps.
    model = create_model("baseline-model1", folds=2, batch_norm=False).to(
        memory_format=torch.channels_last
    )
    reference = create_model("baseline-model1", folds=2, batch_norm=False)
    reference.load_state_dict(model.state_dict())
    fast = _Adam(model, lr=1e-3)
    slow = torch.optim.Adam(reference.parameters(), lr=1e-3)
    for view, param in zip(fast.views, fast.params, strict=True):
        assert view.data_ptr() == param.data_ptr() and view.is_contiguous()  # aliases, no copies
    x = torch.rand(4, 2, 48, 48)
    for _ in range(3):
        fast.zero_grad()
        model(x.contiguous(memory_format=torch.channels_last)).square().mean().backward()
        fast.step()
        slow.zero_grad()
        reference(x).square().mean().backward()
        slow.step()
    for (name, a), b in zip(
        model.state_dict().items(), reference.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert first_conv.weight.is_contiguous(memory_format=torch.channels_last)


class _Losses(TrialCallback):
    def __init__(self) -> None:
        self.losses: list[float | None] = []

    def on_step(self, epoch: int, step: int, steps: int, loss: float | None) -> None:
        self.losses.append(loss)


def test_the_loss_reaches_the_host_only_every_few_steps() -> None:
    import numpy as np

    from ferablate.config import resolve_preset, validate_trial
    from ferablate.engine import run_trial

    raw = {
        "data": {"balance": "none"},
        "model": {"preset": "baseline-model1"},
        "train": {"folds": 2, "epochs": 1, "batch_size": 2, "device": "cpu", "augment": False},
    }
    config = validate_trial(resolve_preset(raw, "test"), "test")
    rng = np.random.default_rng(0)
    labels = np.arange(240) % 7
    images = rng.integers(0, 256, (240, 48, 48), dtype=np.uint8)
    losses = _Losses()
    run_trial(config, (images, labels), [losses])
    assert len(losses.losses) == 60
    reported = [i for i, loss in enumerate(losses.losses, start=1) if loss is not None]
    assert reported == [50]  # one host sync per 50 steps, not one per step


def _load_benchmark(monkeypatch: pytest.MonkeyPatch) -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_engine", REPO / "benchmarks" / "bench_engine.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_engine", bench)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "BATCH", 20)  # a smoke run: the figures, not their size
    monkeypatch.setattr(bench, "MODEL", "baseline-model1")
    return bench


def test_benchmark_script_runs_and_reports_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load_benchmark(monkeypatch)
    out = tmp_path / "bench.json"
    report = bench.main(["--faces", "350", "--epochs", "1", "--data", str(tmp_path / "absent.csv"),
                         "--device", "cpu", "--precision", "fp32", "--repeats", "1",
                         "--ceiling-batches", "2,4", "--ceiling-steps", "1", "--out", str(out)])  # fmt: skip
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["data"] == {"source": "synthetic"}
    # every figure carries its machine: CPU, flags, precision, the same run's ceiling
    assert report["cpu"] and report["threads"] == torch.get_num_threads()
    assert set(report["cpu_flags"]) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    assert report["cpu_capability"] and isinstance(report["isa_env"], dict)
    assert report["precision"] == report["ceiling"]["precision"] == "fp32"
    assert list(report["ceiling"]["plain_step_faces_per_second"]) == ["2", "4"]
    assert all(rate > 0 for rate in report["ceiling"]["plain_step_faces_per_second"].values())
    assert report["ceiling"]["packed_step_faces_per_second"] > 0
    for key in ("engine_untracked", "plain"):
        assert report[key]["faces"] == 280 * 5  # 4/5 of 350 faces, 5 folds, 1 epoch
        assert report[key]["faces_per_second"] > 0
    assert report["ratio_untracked_vs_plain"] > 0
    assert "tracking_overhead_wall" in report and "tracking_overhead_hooks" in report


def test_benchmark_runs_without_mlflow(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bench = _load_benchmark(monkeypatch)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlflow" else find_spec(name, *a),
    )
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` now raises ImportError
    report = bench.main(["--faces", "350", "--epochs", "1", "--data", str(tmp_path / "absent.csv"),
                         "--device", "cpu", "--repeats", "1", "--skip-plain",
                         "--ceiling-batches", ""])  # fmt: skip
    assert report["engine_untracked"]["faces"] == 280 * 5
    assert "ceiling" not in report and report["precision"] in ("fp32", "bf16")
    assert "engine_tracked" not in report and "tracking_overhead_wall" not in report
