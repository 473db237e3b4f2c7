"""Batched, on-device augmentation: every face gets its own random parameters, no PIL.

Flip, zoom and crop (translation) are one axis-aligned affine resampling: bilinear, border
padding, the pixel grid of ``grid_sample(align_corners=False)``. With no rotation it is
separable, ``Ry @ image @ Rx^T`` with two (N, 48, 48) interpolation matrices of two nonzeros
per row, which two batched matmuls apply ~10x faster than ``grid_sample`` does on a CPU.
Brightness and a contrast stretch are elementwise. The report also named saturation, a no-op
on grayscale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["AugmentConfig", "augment_batch"]


@dataclass(frozen=True)
class AugmentConfig:
    flip_p: float = 0.5  # probability of a horizontal flip
    zoom: tuple[float, float] = (0.9, 1.15)  # scale factor range (>1 zooms in)
    shift: float = 0.08  # max translation as a fraction of the half-width (~2 px): random crop
    brightness: float = 0.1  # max added brightness on [0, 1] intensities
    contrast_p: float = 0.5  # chance of a contrast stretch (min-max to [0, 1], random strength)


def augment_batch(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    config: AugmentConfig = AugmentConfig(),
) -> torch.Tensor:
    """Augment ``images`` (N, 1, H, W) float in [0, 1]; returns a new tensor of the same shape."""
    n = images.shape[0]
    device, dtype = images.device, images.dtype

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.empty(n, device=device).uniform_(low, high, generator=generator)

    def bernoulli(p: float) -> torch.Tensor:
        return torch.empty(n, device=device).uniform_(0.0, 1.0, generator=generator) < p

    # Source pixel = inverse_scale * output pixel + shift, per axis, in [-1, 1] units;
    # a negative x scale mirrors the face.
    inverse_scale = 1.0 / uniform(*config.zoom)  # (N,)
    flip_sign = torch.where(bernoulli(config.flip_p), -1.0, 1.0)
    shift_x = uniform(-config.shift, config.shift)
    shift_y = uniform(-config.shift, config.shift)
    height, width = images.shape[-2:]
    rows = _interpolation_matrix(inverse_scale, shift_y, height)  # (N, H, H)
    columns = _interpolation_matrix(inverse_scale * flip_sign, shift_x, width)  # (N, W, W)
    out = rows @ images.float().view(n, height, width) @ columns.transpose(1, 2)  # (N, H, W)
    out = out.view(n, 1, height, width)

    out += uniform(-config.brightness, config.brightness).view(n, 1, 1, 1)  # brightness

    low, high = (m.view(n, 1, 1, 1) for m in torch.aminmax(out.view(n, -1), dim=1))
    stretched = (out - low) / (high - low).clamp_min(1e-3)  # contrast stretch to the full range
    strength = uniform(0.0, 1.0) * bernoulli(config.contrast_p)
    out = torch.lerp(out, stretched, strength.view(n, 1, 1, 1))
    return out.clamp_(0.0, 1.0).to(dtype)


def _interpolation_matrix(scale: torch.Tensor, shift: torch.Tensor, size: int) -> torch.Tensor:
    """(N, size, size) bilinear resampling along one axis: row i mixes the two source pixels
    around ``scale * x_i + shift`` (normalised units, clamped to the border) like
    ``grid_sample(mode="bilinear", padding_mode="border", align_corners=False)``.
    """
    centres = (torch.arange(size, device=scale.device) * 2 + 1) / size - 1  # (size,) in [-1, 1]
    normalised = scale[:, None] * centres + shift[:, None]  # (N, size)
    source = ((normalised + 1) * size - 1).div_(2).clamp_(0, size - 1)  # pixel coordinates
    lower = source.floor()
    upper_weight = source - lower
    lower_index = lower.long()
    upper_index = (lower_index + 1).clamp_(max=size - 1)  # its weight is 0 at the border
    matrix = torch.zeros(scale.shape[0], size, size, device=scale.device)
    matrix.scatter_add_(2, lower_index[..., None], (1 - upper_weight)[..., None])
    matrix.scatter_add_(2, upper_index[..., None], upper_weight[..., None])
    return matrix
