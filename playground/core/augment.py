"""Random small shifts, rotations and scalings of a batch, on the training device.

Hand-drawn digits are rarely centred and upright the way MNIST's are; training on slightly moved
copies makes a model sturdier on them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, generator: torch.Generator, max_shift: float = 2.0,
                  max_rotation: float = 10.0, max_scale: float = 0.1) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) moved by up to ``max_shift`` pixels, turned by up to
    ``max_rotation`` degrees and scaled by up to ``1 +- max_scale``."""
    n, _, h, w = x.shape
    r = torch.rand(n, 4, generator=generator, device=x.device) * 2 - 1
    angle = r[:, 0] * math.radians(max_rotation)
    scale = 1 + r[:, 1] * max_scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid maps output coordinates to input ones in [-1, 1] units.
    tx, ty = r[:, 2] * (2 * max_shift / w), r[:, 3] * (2 * max_shift / h)
    theta = torch.stack((torch.stack((cos, -sin, tx), 1), torch.stack((sin, cos, ty), 1)), 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
