"""Pack k plain (folds=1) state dicts into one fold-packed state dict, and back.

Every packed parameter and buffer is fold-major along dim 0 (conv weights, BatchNorm
weights and running statistics, FoldLinear weights and biases), so packing is one rule:
concatenate along dim 0. 0-dim buffers (BatchNorm's ``num_batches_tracked``) are shared by
the folds (they step together), so the packed state keeps the first fold's value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = ["pack_fold_states", "unpack_fold_state"]


def pack_fold_states(states: Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """k plain state dicts (fold 0 first) -> the state dict of the ``folds=k`` model."""
    if not states:
        raise ValueError("pack_fold_states needs at least one state dict")
    keys = list(states[0])
    for fold, state in enumerate(states[1:], start=1):
        if set(state) != set(keys):
            differing = sorted(set(keys) ^ set(state))[:5]
            raise ValueError(f"fold {fold}'s state dict has other keys than fold 0's: {differing}")
    packed: dict[str, Tensor] = {}
    for key in keys:
        tensors = [state[key] for state in states]
        packed[key] = tensors[0].clone() if tensors[0].dim() == 0 else torch.cat(tensors, dim=0)
    return packed


def unpack_fold_state(packed: Mapping[str, Tensor], fold: int, folds: int) -> dict[str, Tensor]:
    """Fold ``fold``'s plain (folds=1) state dict out of a ``folds``-packed state dict."""
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is out of range for {folds} folds")
    state: dict[str, Tensor] = {}
    for key, tensor in packed.items():
        if tensor.dim() > 0 and tensor.shape[0] % folds:
            raise ValueError(f"'{key}' has {tensor.shape[0]} rows, not a multiple of {folds} folds")
        # clone: the result must not alias a live model's parameters
        state[key] = (tensor.chunk(folds, dim=0)[fold] if tensor.dim() > 0 else tensor).clone()
    return state
