"""Frozen, validated config types: one trial = ``data`` + ``model`` + ``train``.

Every field has a default and a comment saying what it is: those comments are the field
descriptions of the generated reference ``docs/configuration.md`` (``python -m ferablate.config``),
so write them for a reader of that page. Unknown keys are errors (``extra="forbid"``): a typo must never silently
fall back to a default.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    field_validator,
    model_validator,
)

__all__ = [
    "IMAGE_SIZE",
    "NUM_CLASSES",
    "ConvLayerConfig",
    "DataConfig",
    "InceptionBlockConfig",
    "InceptionConfig",
    "ModelConfig",
    "SequentialConfig",
    "TrainConfig",
    "TrialConfig",
]

NUM_CLASSES = 7  # FER2013: angry disgust fear happy sad surprise neutral
IMAGE_SIZE = 48  # FER2013 faces are 48x48 grayscale: the networks' input side


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def _odd(value: int) -> int:
    if value % 2 == 0:
        # the value is shown by the caller
        raise ValueError("kernel sizes must be odd so 'same' padding exists")
    return value


def _not_bool(value: object) -> object:
    if isinstance(value, bool):  # YAML's true/false would pass as 1/0
        raise ValueError("must be a number, not true/false")
    return value


# Strict: an integer only (YAML's `true` is not 1, 2.0 is not 2); flags are true/false only.
# Numbers take ints and floats (not true/false) and must be finite (`.nan` is no number).
Int = Annotated[int, Strict()]
PositiveInt = Annotated[int, Strict(), Field(gt=0)]
# square kernel; padding keeps the size
OddKernel = Annotated[int, Strict(), Field(gt=0), AfterValidator(_odd)]
Flag = StrictBool
Number = Annotated[float, BeforeValidator(_not_bool), Field(allow_inf_nan=False)]
Activation = Literal["relu", "elu"]


class DataConfig(_Frozen):
    source: Literal["fer2013", "folder", "synthetic"] = "synthetic"  # where faces come from
    # CSV (.csv/.csv.gz) or image-folder root; else $FERABLATE_DATA, else data/fer2013.csv[.gz]
    path: str | None = None
    limit: PositiveInt | None = None  # seeded, stratified subset of N Training faces (None = all)
    # fold: oversample+augment minority classes inside each training fold; report: balance before
    # splitting (the report's protocol, leaks); none: off
    balance: Literal["none", "fold", "report"] = "fold"
    # Training faces drawn for source: synthetic (each test split gets 1/8 of this)
    synthetic_size: Annotated[PositiveInt, Field(le=100_000)] = 2800
    seed: Int = 0  # seed of the data subset and of synthetic faces (kept apart from train.seed so re-runs see the same data)

    @field_validator("balance", mode="before")
    @classmethod
    def _balance_from_bool(cls, value: object) -> object:
        # `balance: true/false` reads naturally in YAML; map it onto the modes.
        if value is True:
            return "fold"
        if value is False:
            return "none"
        return value


class ConvLayerConfig(_Frozen):
    channels: PositiveInt  # output channels
    kernel: OddKernel = 3  # square kernel size; padding keeps the spatial size ("same")
    pool: Flag = True  # 2x2 max-pool after the activation
    dilation: PositiveInt = 1  # kernel dilation ("dil" in the report's table)
    groups: PositiveInt = 1  # grouped convolution ("gc"); must divide in and out channels
    dropout: Flag = True  # apply model.dropout after this layer (when model.dropout > 0)


class SequentialConfig(_Frozen):
    """Model 1 family: conv blocks (conv, [batch norm], act, [max-pool], [dropout]) then dense."""

    family: Literal["sequential"] = "sequential"  # model family: conv blocks, then dense layers
    # name of the preset this config started from (informational once resolved)
    preset: str | None = None
    convs: tuple[ConvLayerConfig, ...] = Field(min_length=1)  # conv blocks, input side first
    # hidden dense widths; the 7-way output layer is appended
    dense: tuple[PositiveInt, ...] = (32,)
    batch_norm: Flag = True  # BatchNorm after every conv
    activation: Activation = "relu"  # after every conv and hidden dense layer
    dropout: Annotated[Number, Field(ge=0.0, lt=1.0)] = 0.0  # dropout p (0 = none)
    dense_dropout: Flag = False  # also apply dropout after each hidden dense layer

    @model_validator(mode="after")
    def _groups_divide_channels(self) -> SequentialConfig:
        in_channels = 1
        for index, conv in enumerate(self.convs):
            if in_channels % conv.groups or conv.channels % conv.groups:
                raise ValueError(
                    f"convs.{index}.groups={conv.groups} must divide its input ({in_channels}) "
                    f"and output ({conv.channels}) channels"
                )
            in_channels = conv.channels
        return self


class InceptionBlockConfig(_Frozen):
    """in -> four parallel branches -> concat -> 1x1 conv -> out (the report's simplified block)."""

    # (a, b, c, d): 1x1 branch and reductions, inner conv 1, inner conv 2, pool projection
    branches: tuple[PositiveInt, PositiveInt, PositiveInt, PositiveInt]
    out: PositiveInt  # channels of the 1x1 conv after the concatenation
    # kernels of the two inner convs ("3x3 inc" = (3, 3))
    inner_kernels: tuple[OddKernel, OddKernel] = (3, 5)
    pool: Flag = False  # 2x2 max-pool after the block
    dropout: Flag = False  # apply model.dropout after the block
    shortcut: Flag = False  # residual connection around the block ("inc + sc"); 1x1 projection when channels differ


class InceptionConfig(_Frozen):
    """Model 2 family: stem conv, inception blocks, a 1x1 head conv, dense layers."""

    # model family: stem conv, inception blocks, head, dense layers
    family: Literal["inception"] = "inception"
    preset: str | None = None  # name of the preset this config started from
    stem_channels: PositiveInt = 8  # channels of the stem conv
    stem_kernel: OddKernel = 3  # stem kernel size ("7x7 inc" = 7)
    blocks: tuple[InceptionBlockConfig, ...] = Field(min_length=1)  # inception blocks in order
    head_channels: Int = Field(default=64, ge=0)  # 1x1 conv + pool before the classifier (0 = none)
    # hidden dense widths; the 7-way output layer is appended
    dense: tuple[PositiveInt, ...] = (32,)
    batch_norm: Flag = True  # BatchNorm after the stem, each block's 1x1 output conv and the head
    activation: Activation = "relu"  # after every conv and hidden dense layer
    dropout: Annotated[Number, Field(ge=0.0, lt=1.0)] = 0.0  # dropout p (0 = none)
    dense_dropout: Flag = True  # apply dropout after each hidden dense layer


ModelConfig = Annotated[SequentialConfig | InceptionConfig, Field(discriminator="family")]


class TrainConfig(_Frozen):
    folds: Annotated[Int, Field(ge=2, le=20)] = 5  # stratified cross-validation folds
    epochs: PositiveInt = 5  # epochs per fold
    batch_size: PositiveInt = 10  # faces per optimisation step, per fold
    lr: Annotated[Number, Field(gt=0.0, lt=1.0)] = 1e-4  # Adam learning rate
    # seed of init, shuffling, augmentation and dropout (not of the split: see split_seed)
    seed: Int = 0
    # Seed of the stratified fold split (and of the report protocol's pre-split balancing copies).
    # Kept apart from `seed` so that a seed re-run is scored on its parent's folds and the two
    # can be compared fold by fold (paired).
    split_seed: Int = 0
    # repeated k-fold: R different stratified splits, R x folds fold models trained packed
    repeats: Annotated[Int, Field(ge=1, le=10)] = 1
    score_publictest: Flag = False  # also score the PublicTest split with every fold model (held-out check of the CV protocol)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: CUDA when present
    # auto: bf16 autocast on CUDA and on CPUs with AMX/AVX-512 bf16
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    augment: Flag = True  # random flip, crop/zoom, brightness and contrast on training faces
    pack_folds: Flag = True  # train the k folds together as one packed model (same results, faster)
    # Faces per evaluation step, per fold; None: 32 on a CPU (activations stay in cache,
    # 2x the throughput of 256 there), 256 on CUDA.
    eval_batch_size: PositiveInt | None = None
    # A fold's mean training loss above this ends the trial as diverged (FAILED, shown as
    # `diverged`), like a NaN loss: a healthy 7-class cross-entropy starts near ln 7 = 1.95.
    diverge_loss: Annotated[Number, Field(gt=0.0)] = 100.0


class TrialConfig(_Frozen):
    """Everything that defines one trial; its hash is the trial's identity."""

    data: DataConfig = DataConfig()
    model: ModelConfig
    train: TrainConfig = TrainConfig()
