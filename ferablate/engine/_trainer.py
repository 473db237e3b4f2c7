"""Train one trial: k stratified folds, epoch-major, packed into one model per device.

With ``train.pack_folds`` (default) the k folds train together as ONE fold-packed network
(``create_model(..., folds=k)``): k independent parameter sets, each fold fed only its own
faces, with its own batch-norm statistics, Adam state and dropout masks. Without it, each fold
is its own group of one. Either way the loop is epoch-major (epoch 1 of every fold, then
epoch 2, ...) so a per-epoch mean over folds exists for pruning.

Every fold starts from the weights a plain model gets from ``seed_for(seed, fold)`` and reads
its faces in an order drawn from the same per-fold seed, so packed and one-by-one training
see the same data and the same initialisation. With ``train.repeats`` = R the plan holds
R x k folds and ``fold`` is the plan index ``r * k + f``: repeats get their own seeds, and
repeat 0 trains exactly the folds of a trial without repeats.

The per-fold training loss is summed on the device and read once per epoch, which is also
where a non-finite loss (divergence) is caught, without a host sync per step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ferablate._errors import DataError, DivergedError, OutOfMemoryError, TrialError
from ferablate._logging import get_logger
from ferablate.config import NUM_CLASSES, TrialConfig
from ferablate.engine._augment import augment_batch
from ferablate.engine._device import Precision, select_device, select_precision
from ferablate.engine._folds import FoldPlan, balance_indices, plan_folds
from ferablate.engine._metrics import fold_metrics, fold_status
from ferablate.engine._result import EpochMetrics, FoldResult, TrialCallback, TrialInfo, TrialResult
from ferablate.models import create_model, pack_fold_states, unpack_fold_state

__all__ = [
    "autocast_context",
    "is_out_of_memory",
    "run_trial",
    "seed_for",
    "train_final",
    "train_plan",
]

_log = get_logger(__name__)

_LOSS_REPORT_EVERY = 50  # steps between running-loss reports (each costs one host sync)
_AUGMENT_CHUNK_FACES = 8192  # faces gathered and augmented in one batched call
_WARMUP_STEPS = 3  # eager steps before a CUDA graph of the step is captured
_EVAL_BATCH_CPU = 32  # default faces per evaluation step and fold: activations stay in cache
_EVAL_BATCH_CUDA = 256
_CUDA_GRAPHS = True  # replay each optimisation step as a CUDA graph on CUDA devices


def seed_for(seed: int, fold: int) -> int:
    """Per-fold seed of initialisation and data order (stable across packed/unpacked runs)."""
    return seed * 1_000_003 + fold


def autocast_context(
    device: torch.device, precision: Precision, *, cache: bool = True
) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on ``device`` or a no-op for fp32 (``cache=False`` inside CUDA graphs)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


def is_out_of_memory(exc: BaseException) -> bool:
    """Classify an exception as running out of device or host memory."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )


class _Adam:
    """Adam over a model whose 4-D weights are channels_last, without per-step layout copies.

    Fused Adam wants contiguous tensors and clones every channels_last weight, gradient and
    moment each step (~10% of a packed report-model1 step on CPU). A channels_last
    (O, I, kH, kW) tensor *is* a contiguous (O, kH, kW, I) one, so Adam runs on those
    aliases, which share the parameters' memory; gradients are aliased the same way.
    """

    def __init__(self, model: nn.Module, lr: float) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.nhwc = [
            p.dim() == 4
            and not p.is_contiguous()
            and p.is_contiguous(memory_format=torch.channels_last)
            for p in self.params
        ]
        self.views = [
            p.detach().permute(0, 2, 3, 1) if nhwc else p.detach()
            for p, nhwc in zip(self.params, self.nhwc, strict=True)
        ]
        capturable = self.views[0].is_cuda  # the step may be recorded in a CUDA graph
        try:
            self.adam = torch.optim.Adam(self.views, lr=lr, fused=True, capturable=capturable)
        except (RuntimeError, TypeError):  # fused Adam is not built for every device/dtype
            self.adam = torch.optim.Adam(self.views, lr=lr, foreach=True, capturable=capturable)

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        for param, view, nhwc in zip(self.params, self.views, self.nhwc, strict=True):
            grad = param.grad
            if grad is not None and nhwc:  # no copy: gradients follow their parameter's layout
                grad = grad.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
            view.grad = grad
        self.adam.step()


@dataclass
class _FoldGroup:
    """Folds trained together as one packed model (one fold when packing is off)."""

    folds: tuple[int, ...]
    model: nn.Module
    optimizer: _Adam
    generator: torch.Generator  # augmentation randomness of this group, on the device
    loss_sum: torch.Tensor = field(init=False)  # (k,) running training loss, on the device
    loss_count: int = field(default=0, init=False)
    graphed: _GraphedStep | None = field(default=None, init=False)  # CUDA: the step as a graph

    def __post_init__(self) -> None:
        self.loss_sum = torch.zeros(len(self.folds), device=self.generator.device)

    @property
    def k(self) -> int:
        return len(self.folds)


def _build_group(config: TrialConfig, folds: tuple[int, ...], device: torch.device) -> _FoldGroup:
    states = []
    for fold in folds:
        torch.manual_seed(seed_for(config.train.seed, fold))
        states.append(create_model(config.model).state_dict())
    model = create_model(config.model, folds=len(folds))
    model.load_state_dict(pack_fold_states(states))  # one fold: its own state, copied
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = _Adam(model, config.train.lr)
    generator = torch.Generator(device=device).manual_seed(
        seed_for(config.train.seed, folds[0]) + 17
    )
    return _FoldGroup(folds, model, optimizer, generator)


def _epoch_order(
    plan: FoldPlan, group: _FoldGroup, seed: int, epoch: int, batch: int
) -> np.ndarray:
    """(steps, batch, k) pool indices: each fold's shuffled faces, padded to the longest fold."""
    steps = math.ceil(max(len(plan.train_indices[f]) for f in group.folds) / batch)
    columns = []
    for fold in group.folds:
        rng = np.random.default_rng([seed_for(seed, fold), epoch])
        own = plan.train_indices[fold]
        order = rng.permutation(own)
        pad = rng.choice(own, size=steps * batch - len(own), replace=True)
        columns.append(np.concatenate([order, pad]))
    return np.stack(columns, axis=1).reshape(steps, batch, group.k)


def _training_batches(
    order: np.ndarray,
    pool: torch.Tensor,
    pool_labels: torch.Tensor,
    group: _FoldGroup,
    augment: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x (B, k, 48, 48) channels_last float, y (B, k)) per step; augments in big chunks."""
    steps, batch, k = order.shape
    chunk_steps = max(1, _AUGMENT_CHUNK_FACES // (batch * k))
    index = torch.from_numpy(order).to(pool.device)
    for start in range(0, steps, chunk_steps):
        chunk = index[start : start + chunk_steps]  # (C, B, k)
        faces = pool[chunk].float().div_(255.0)  # (C, B, k, 48, 48)
        if augment:
            flat = faces.view(-1, 1, *faces.shape[-2:])  # (C*B*k, 1, 48, 48)
            faces = augment_batch(flat, group.generator).view(faces.shape)
        labels = pool_labels[chunk]  # (C, B, k)
        for step in range(chunk.shape[0]):
            yield faces[step].contiguous(memory_format=torch.channels_last), labels[step]


def _per_fold_logits(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(B, k, 7) float logits of a packed model's (B, k, 7) or a plain one's (B, 7)."""
    return logits.view(logits.shape[0], k, NUM_CLASSES).float()


def _optimisation_step(
    group: _FoldGroup, x: torch.Tensor, y: torch.Tensor, device: torch.device, precision: Precision
) -> None:
    """One packed step: each fold's mean loss, backward, Adam; the loss stays on the device."""
    with autocast_context(device, precision, cache=not _capturing(device)):
        logits = _per_fold_logits(group.model(x), group.k)  # (B, k, 7)
    losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
    per_fold = losses.view(-1, group.k).mean(dim=0)  # (k,): each fold's own mean loss
    group.optimizer.zero_grad()
    per_fold.sum().backward()  # fold f's gradient is its own loss's gradient
    group.optimizer.step()
    group.loss_sum += per_fold.detach()


def _capturing(device: torch.device) -> bool:
    return device.type == "cuda" and torch.cuda.is_current_stream_capturing()


class _GraphedStep:
    """The whole optimisation step as one CUDA graph (a packed model-1 step is ~200 small
    kernels: launch-bound at batch 10). The first ``_WARMUP_STEPS`` batches train eagerly on
    a side stream, as capture requires; then every batch is copied into static inputs and the
    graph replays forward, backward, Adam and the loss sum. Dropout's Philox offsets advance
    per replay, so masks differ between steps as in eager mode.
    """

    def __init__(self, group: _FoldGroup, device: torch.device, precision: Precision) -> None:
        self.group, self.device, self.precision = group, device, precision
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None
        self.static_y: torch.Tensor | None = None
        self.eager_steps = 0
        self.stream = torch.cuda.Stream(device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.graph is not None and self.static_x is not None and self.static_y is not None:
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.graph.replay()
            return
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            if self.eager_steps < _WARMUP_STEPS:
                _optimisation_step(self.group, x, y, self.device, self.precision)
                self.eager_steps += 1
            else:
                self._capture(x, y)
        torch.cuda.current_stream(self.device).wait_stream(self.stream)
        if self.graph is not None:
            self.graph.replay()  # capture records the step without running it

    def _capture(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.static_x, self.static_y = x.clone(memory_format=torch.preserve_format), y.clone()
        self.group.optimizer.zero_grad()  # gradients are then allocated inside the graph's pool
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, stream=self.stream):
                _optimisation_step(
                    self.group, self.static_x, self.static_y, self.device, self.precision
                )
        except RuntimeError as exc:  # an op that cannot be captured: train eagerly instead
            _log.warning(
                "CUDA graph capture failed, training eagerly: %s", str(exc).splitlines()[0]
            )
            self.group.graphed = None
            _optimisation_step(self.group, x, y, self.device, self.precision)
            return
        self.graph = graph


@dataclass(frozen=True)
class _Context:
    """What one trial's training reads everywhere, set up once by :func:`_prepare`."""

    config: TrialConfig
    plan: FoldPlan
    device: torch.device
    precision: Precision
    pool: torch.Tensor  # (M + P, 48, 48) uint8 on the device: plan faces, then PublicTest faces
    pool_labels: torch.Tensor  # (M + P,) int64 on the device
    labels: np.ndarray  # (M + P,) int64 on the host
    publictest: np.ndarray | None  # pool indices of the PublicTest faces (score_publictest)
    eval_batch: int  # faces per evaluation step and fold
    groups: tuple[_FoldGroup, ...]
    steps_per_group: tuple[int, ...]
    info: TrialInfo
    callbacks: Sequence[TrialCallback]


class _Evaluation(NamedTuple):
    """One fold model's predictions on a set of faces."""

    labels: np.ndarray
    predictions: np.ndarray
    loss: float  # mean cross-entropy


def _train_epoch(ctx: _Context, group: _FoldGroup, epoch: int, step_offset: int) -> None:
    train = ctx.config.train
    order = _epoch_order(ctx.plan, group, train.seed, epoch, train.batch_size)
    group.model.train()
    group.loss_sum.zero_()
    group.loss_count = 0
    batches = _training_batches(order, ctx.pool, ctx.pool_labels, group, train.augment)
    for step, (x, y) in enumerate(batches, start=1):
        if group.graphed is not None:
            group.graphed(x, y)
        else:
            _optimisation_step(group, x, y, ctx.device, ctx.precision)
        group.loss_count += 1
        if ctx.callbacks:
            loss = None
            if step % _LOSS_REPORT_EVERY == 0:  # the only host sync of the loop
                loss = float(group.loss_sum.mean()) / group.loss_count
            for callback in ctx.callbacks:
                callback.on_step(epoch, step_offset + step, ctx.info.steps_per_epoch, loss)


@torch.inference_mode()
def _evaluate(ctx: _Context, group: _FoldGroup, indices: Sequence[np.ndarray]) -> list[_Evaluation]:
    """Per fold of the group, its model on its own pool ``indices`` (e.g. its validation faces)."""
    group.model.eval()
    sizes = [len(own) for own in indices]
    longest = max(sizes)
    # (M, k): short folds repeat their own faces; the repeats are cut off below
    padded = np.stack([np.resize(own, longest) for own in indices], axis=1)
    index = torch.from_numpy(padded).to(ctx.device)
    predictions, losses = [], []
    for start in range(0, longest, ctx.eval_batch):
        chunk = index[start : start + ctx.eval_batch]  # (E, k)
        x = ctx.pool[chunk].float().div_(255.0).contiguous(memory_format=torch.channels_last)
        with autocast_context(ctx.device, ctx.precision):
            logits = _per_fold_logits(group.model(x), group.k)  # (E, k, 7)
        y = ctx.pool_labels[chunk]
        losses.append(
            F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(y)
        )
        predictions.append(logits.argmax(dim=-1))
    all_predictions = torch.cat(predictions).cpu().numpy()  # (M, k)
    all_losses = torch.cat(losses).cpu().numpy()
    return [
        _Evaluation(ctx.labels[own], all_predictions[:n, j], float(all_losses[:n, j].mean()))
        for j, (own, n) in enumerate(zip(indices, sizes, strict=True))
    ]


_LR_ADVICE = "lower train.lr, check model.dropout"


def _raise_if_diverged(
    plan: FoldPlan,
    epoch: int,
    losses: dict[int, float],
    kind: str,
    limit: float = math.inf,
    advice: Callable[[int, float], str] | None = None,
) -> None:
    """A non-finite loss, or one above ``limit`` (``train.diverge_loss``), invalidates the trial.

    Names its first such fold (read once an epoch) and what to try: ``advice(fold, loss)`` for
    that fold, else :data:`_LR_ADVICE`.
    """
    for fold in sorted(losses):
        loss = losses[fold]
        if not math.isfinite(loss) or loss > limit:
            spec = plan.specs[fold]
            label = str(spec.fold) if plan.repeats == 1 else spec.name
            if math.isnan(loss):
                value = "became NaN"
            elif math.isinf(loss):
                value = "became infinite"
            else:
                value = f"exploded to {loss:.3g} (above train.diverge_loss={limit:g})"
            raise DivergedError(
                f"{kind} loss {value} in fold {label} at epoch {epoch} "
                f"({_LR_ADVICE if advice is None else advice(fold, loss)})",
                fold=spec.name,
                epoch=epoch,
            )


def run_trial(
    config: TrialConfig,
    training: tuple[np.ndarray, np.ndarray],
    callbacks: Sequence[TrialCallback] = (),
    *,
    publictest: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrialResult:
    """Train and validate every fold of ``config`` on ``training`` = (images uint8 (N,48,48), labels).

    ``train.repeats`` > 1 trains repeats x folds fold models (repeated k-fold). With
    ``train.score_publictest`` every fold model also scores ``publictest`` (the PublicTest
    split's (images, labels)), which must then hold faces.

    Raises :class:`OutOfMemoryError` when the device or host runs out of memory (a result the
    tables show as "no fit in memory"), :class:`DivergedError` when a fold's loss becomes
    non-finite. Exceptions raised by callbacks (e.g. a pruning signal) propagate unchanged.
    """
    train = config.train
    if train.score_publictest and (publictest is None or len(publictest[1]) == 0):
        raise DataError(
            "train.score_publictest=true but the data has no PublicTest faces; "
            "use a FER2013 CSV or set train.score_publictest=false"
        )
    plan = plan_folds(*training, train.folds, config.data.balance, train.split_seed, train.repeats)
    if train.score_publictest:
        plan = dataclasses.replace(plan, publictest=publictest)
    return train_plan(config, plan, callbacks)


def train_final(
    config: TrialConfig,
    training: tuple[np.ndarray, np.ndarray],
    evaluation: tuple[np.ndarray, np.ndarray],
    callbacks: Sequence[TrialCallback] = (),
) -> TrialResult:
    """Train one model on all of ``training`` (balanced as configured), scoring ``evaluation``
    (e.g. the test splits) after every epoch: a one-"fold" trial whose validation set is the
    evaluation set. ``result.folds[0]`` holds the weights and the evaluation predictions.
    """
    train_images, train_labels = training
    eval_images, eval_labels = evaluation
    rng = np.random.default_rng(config.train.seed)
    train_indices = np.arange(len(train_labels))
    if config.data.balance != "none":  # "report" and "fold" both mean: balance the training faces
        train_indices = balance_indices(train_indices, train_labels, rng)
    plan = FoldPlan(
        images=np.concatenate([train_images, eval_images]),
        labels=np.concatenate([train_labels, eval_labels]).astype(np.int64),
        train_indices=(train_indices,),
        val_indices=(np.arange(len(eval_labels)) + len(train_labels),),
    )
    return train_plan(config, plan, callbacks)


def train_plan(
    config: TrialConfig, plan: FoldPlan, callbacks: Sequence[TrialCallback] = ()
) -> TrialResult:
    """Train every fold of ``plan`` (epoch-major, packed per ``train.pack_folds``); then score
    ``plan.publictest`` with every fold model when the plan holds it.

    OOM errors become :class:`OutOfMemoryError`; other exceptions propagate.
    """
    try:
        with _cudnn_autotuned(config.train.device):
            return _train_plan(config, plan, callbacks)
    except Exception as exc:  # a TrialError (OutOfMemoryError included) passes unchanged
        if is_out_of_memory(exc) and not isinstance(exc, TrialError):
            raise OutOfMemoryError(f"out of memory: {str(exc).splitlines()[0][:200]}") from exc
        raise


@contextlib.contextmanager
def _cudnn_autotuned(requested: str) -> Iterator[None]:
    """cuDNN picks the fastest kernels for the trial's fixed shapes (restored afterwards)."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = before or (requested != "cpu" and torch.cuda.is_available())
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _train_plan(
    config: TrialConfig, plan: FoldPlan, callbacks: Sequence[TrialCallback]
) -> TrialResult:
    ctx = _prepare(config, plan, callbacks)
    for callback in callbacks:
        callback.on_trial_start(ctx.info)
    histories: dict[int, list[EpochMetrics]] = {fold: [] for fold in range(plan.folds)}
    last: dict[int, _Evaluation] = {}
    started = time.perf_counter()
    for epoch in range(1, config.train.epochs + 1):
        metrics, last = _run_epoch(ctx, epoch)
        for entry in metrics:
            histories[entry.fold].append(entry)
        for callback in callbacks:
            callback.on_epoch_end(epoch, metrics)
    return _collect(ctx, histories, last, time.perf_counter() - started)


def _prepare(config: TrialConfig, plan: FoldPlan, callbacks: Sequence[TrialCallback]) -> _Context:
    """Device, precision, the faces on the device and the fold groups' models and optimisers."""
    train = config.train
    device = select_device(train.device)
    precision = select_precision(train.precision, device)
    images, labels = plan.images, plan.labels.astype(np.int64)
    publictest, publictest_indices = plan.publictest, None
    if publictest is not None:  # scored after training: its faces go after the plan's
        publictest_indices = np.arange(len(publictest[1])) + len(labels)
        images = np.concatenate([images, publictest[0]])
        labels = np.concatenate([labels, publictest[1].astype(np.int64)])
    eval_batch = train.eval_batch_size or (
        _EVAL_BATCH_CUDA if device.type == "cuda" else _EVAL_BATCH_CPU
    )
    fold_ids = tuple(range(plan.folds))
    layout = [fold_ids] if train.pack_folds else [(f,) for f in fold_ids]
    groups = tuple(_build_group(config, folds, device) for folds in layout)
    if device.type == "cuda" and _CUDA_GRAPHS:
        for group in groups:
            group.graphed = _GraphedStep(group, device, precision)
    torch.manual_seed(train.seed)  # dropout masks
    steps_per_group = tuple(
        math.ceil(max(len(plan.train_indices[f]) for f in g.folds) / train.batch_size)
        for g in groups
    )
    steps = sum(steps_per_group)
    _log.debug("trial: %d folds on %s (%s), %d steps/epoch", plan.folds, device, precision, steps)
    info = TrialInfo(
        folds=plan.folds,
        epochs=train.epochs,
        steps_per_epoch=steps,
        train_sizes=[len(t) for t in plan.train_indices],
        device=str(device),
        precision=precision,
        packed=train.pack_folds,
        fold_specs=plan.specs,
        repeats=plan.repeats,
    )
    return _Context(
        config=config,
        plan=plan,
        device=device,
        precision=precision,
        pool=torch.from_numpy(np.ascontiguousarray(images)).to(device),
        pool_labels=torch.from_numpy(labels).to(device),
        labels=labels,
        publictest=publictest_indices,
        eval_batch=eval_batch,
        groups=groups,
        steps_per_group=steps_per_group,
        info=info,
        callbacks=callbacks,
    )


def _run_epoch(ctx: _Context, epoch: int) -> tuple[list[EpochMetrics], dict[int, _Evaluation]]:
    """Train every group one epoch, then validate: each fold's metrics and evaluation."""
    offset = 0
    for group, steps in zip(ctx.groups, ctx.steps_per_group, strict=True):
        _train_epoch(ctx, group, epoch, offset)
        offset += steps
    train_losses: dict[int, float] = {}
    for group in ctx.groups:  # one host sync per group and epoch reads every step's loss
        means = (group.loss_sum / max(group.loss_count, 1)).tolist()
        train_losses.update(zip(group.folds, means, strict=True))

    def advice(fold: int, loss: float) -> str:  # for the fold the message names
        if epoch == 1 and not math.isfinite(loss):
            return _first_epoch_advice(ctx, fold)
        return _LR_ADVICE  # a later epoch, or a finite loss above train.diverge_loss

    limit = ctx.config.train.diverge_loss
    _raise_if_diverged(ctx.plan, epoch, train_losses, "training", limit, advice)
    evaluations: dict[int, _Evaluation] = {}
    for group in ctx.groups:
        own = [ctx.plan.val_indices[fold] for fold in group.folds]
        evaluations.update(zip(group.folds, _evaluate(ctx, group, own), strict=True))
    _raise_if_diverged(ctx.plan, epoch, {f: e.loss for f, e in evaluations.items()}, "validation")
    metrics = [
        EpochMetrics(
            fold=fold,
            epoch=epoch,
            train_loss=train_losses[fold],
            val_loss=evaluation.loss,
            **fold_metrics(evaluation.labels, evaluation.predictions),
        )
        for fold, evaluation in sorted(evaluations.items())
    ]
    return metrics, evaluations


def _first_epoch_advice(ctx: _Context, fold: int) -> str:
    """What to try when ``fold``'s loss is non-finite in the first epoch: not the learning rate
    when one step from the initial weights is already non-finite (a numerical fault)."""
    group = next(g for g in ctx.groups if fold in g.folds)
    where = _first_non_finite(ctx, group.folds)
    bf16 = ctx.precision == "bf16"
    if where is None:
        maybe_bf16 = "; in bf16 it may also be a numerical fault: try train.precision=fp32"
        return _LR_ADVICE + (maybe_bf16 if bf16 else "")
    fix = "try train.precision=fp32" if bf16 and "(Dropout)" not in where else "check model.dropout"
    return (
        f"one step from the initial weights already gives a non-finite {where}: "
        f"a numerical fault, not the learning rate; {fix}"
    )


def _first_non_finite(ctx: _Context, folds: tuple[int, ...]) -> str | None:
    """Replay the first training step of ``folds`` from their initial weights and say where it
    first turns non-finite: a layer's output (forward order), else the deepest parameter
    gradient (where the backward pass meets it first); None when the whole step is finite."""
    train = ctx.config.train
    group = _build_group(ctx.config, folds, ctx.device)
    order = _epoch_order(ctx.plan, group, train.seed, 1, train.batch_size)[:1]
    x, y = next(_training_batches(order, ctx.pool, ctx.pool_labels, group, train.augment))
    outputs: list[str] = []
    leaves = {m: n for n, m in group.model.named_modules() if n and not any(m.children())}

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        if outputs or not isinstance(output, torch.Tensor) or bool(torch.isfinite(output).all()):
            return  # only the first non-finite output counts
        outputs.append(f"output of {leaves[module]} ({type(module).__name__})")

    handles = [module.register_forward_hook(hook) for module in leaves]
    try:
        _optimisation_step(group, x, y, ctx.device, ctx.precision)  # its Adam state is thrown away
    finally:
        for handle in handles:
            handle.remove()
    if outputs:
        return outputs[0]
    for name, param in reversed(list(group.model.named_parameters())):
        if param.grad is not None and not bool(torch.isfinite(param.grad).all()):
            owner, _, kind = name.rpartition(".")
            module = type(group.model.get_submodule(owner)).__name__
            return f"{kind} gradient of {owner} ({module})"
    return None


def _collect(
    ctx: _Context,
    histories: dict[int, list[EpochMetrics]],
    last: dict[int, _Evaluation],
    seconds: float,
) -> TrialResult:
    """Each fold's plain weights, final predictions, status and PublicTest scores."""
    plan, specs = ctx.plan, ctx.plan.specs
    fold_results = []
    for group in ctx.groups:
        state = {name: tensor.detach().cpu() for name, tensor in group.model.state_dict().items()}
        scored = None
        if ctx.publictest is not None:
            scored = _evaluate(ctx, group, [ctx.publictest] * group.k)
        for j, fold in enumerate(group.folds):
            evaluation = last[fold]
            publictest = None
            if scored is not None:
                scores = fold_metrics(scored[j].labels, scored[j].predictions)
                publictest = {k.replace("val_", "publictest_", 1): v for k, v in scores.items()}
            fold_results.append(
                FoldResult(
                    fold=fold,
                    name=specs[fold].name,
                    repeat=specs[fold].repeat,
                    history=histories[fold],
                    train_size=len(plan.train_indices[fold]),
                    n_train_distinct=plan.distinct_faces(plan.train_indices[fold]),
                    n_val_distinct=plan.distinct_faces(plan.val_indices[fold]),
                    val_indices=plan.val_indices[fold],
                    val_labels=evaluation.labels,
                    val_predictions=evaluation.predictions,
                    state_dict=unpack_fold_state(state, j, group.k) if group.k > 1 else state,
                    status=fold_status(
                        histories[fold][-1].train_loss, evaluation.labels, evaluation.predictions
                    ),
                    publictest=publictest,
                )
            )
    fold_results.sort(key=lambda result: result.fold)
    faces = sum(len(t) for t in plan.train_indices) * ctx.config.train.epochs
    return TrialResult(
        ctx.config, fold_results, str(ctx.device), ctx.precision, seconds, faces, plan=plan
    )
