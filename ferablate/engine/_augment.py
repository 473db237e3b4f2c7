"""Batched, on-device augmentation: every face gets its own random parameters, no PIL.

One affine ``grid_sample`` does flip, zoom and crop (translation) together; brightness and a
contrast stretch are elementwise. The report also named saturation, a no-op on grayscale.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "augment_batch"]


@dataclass(frozen=True)
class AugmentConfig:
    flip_p: float = 0.5  # probability of a horizontal flip
    zoom: tuple[float, float] = (0.9, 1.15)  # scale factor range (>1 zooms in)
    shift: float = 0.08  # max translation as a fraction of the half-width (~2 px): random crop
    brightness: float = 0.1  # max added brightness on [0, 1] intensities
    contrast_p: float = (
        0.5  # probability of a contrast stretch (min-max to [0, 1], random strength)
    )


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

    # Affine sampling grid: output pixel -> input coordinate, in [-1, 1] units.
    inverse_scale = 1.0 / uniform(*config.zoom)  # (N,)
    flip_sign = torch.where(bernoulli(config.flip_p), -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = inverse_scale * flip_sign
    theta[:, 1, 1] = inverse_scale
    theta[:, 0, 2] = uniform(-config.shift, config.shift)
    theta[:, 1, 2] = uniform(-config.shift, config.shift)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(
        images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False
    )

    out = out + uniform(-config.brightness, config.brightness).view(n, 1, 1, 1)  # brightness

    flat = out.view(n, -1)  # (N, H*W)
    low = flat.amin(dim=1).view(n, 1, 1, 1)
    high = flat.amax(dim=1).view(n, 1, 1, 1)
    stretched = (out - low) / (high - low).clamp_min(1e-3)  # contrast stretch to the full range
    strength = uniform(0.0, 1.0) * bernoulli(config.contrast_p)
    out = torch.lerp(out, stretched, strength.view(n, 1, 1, 1))
    return out.clamp_(0.0, 1.0).to(dtype)
