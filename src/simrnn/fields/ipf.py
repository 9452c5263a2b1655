"""Crystal orientations and the cubic (m-3m) inverse-pole-figure (IPF) colour key.

Convention (Bunge, passive, as in MTEX and orix): an orientation is a rotation matrix
``g [N, 3, 3]`` that maps *sample* coordinates to *crystal* coordinates, ``h_crystal = g @ v_sample``.
The IPF colour of a grain for the sample direction ``v`` (X, Y or Z) is the colour of the crystal
direction ``h = g @ v`` in the standard stereographic triangle [001]-[101]-[111].

Colour key: the crystal direction is reduced by the 48 m-3m symmetries to the fundamental
sector ``0 <= h_y <= h_x <= h_z`` and written as non-negative barycentric coefficients over the
corners ``h = r [001] + g [101] + b [111]`` (``r = h_z - h_x, g = h_x - h_y, b = h_y``); the
RGB colour is ``(r, g, b) / max(r, g, b)``. Hence [001] is red, [101] green, [111] blue, and
directions in between mix continuously (a TSL-like key without gamma correction).
"""

from __future__ import annotations

import numpy as np


def random_orientations(n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` orientations uniformly from SO(3) (Shoemake's quaternion method).

    Returns ``g [n, 3, 3]`` float64 rotation matrices (sample -> crystal).
    """
    u1, u2, u3 = rng.random((3, n))
    a, b = np.sqrt(1.0 - u1), np.sqrt(u1)
    w, x = a * np.sin(2 * np.pi * u2), a * np.cos(2 * np.pi * u2)
    y, z = b * np.sin(2 * np.pi * u3), b * np.cos(2 * np.pi * u3)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=-2,
    )


def ipf_colour(directions: np.ndarray) -> np.ndarray:
    """Cubic m-3m IPF colour of crystal directions.

    ``directions [..., 3]`` (any length, not all zero) -> ``rgb [..., 3]`` float64 in [0, 1].
    """
    h = np.sort(np.abs(np.asarray(directions, dtype=np.float64)), axis=-1)  # (h_y, h_x, h_z) ascending
    coef = np.stack([h[..., 2] - h[..., 1], h[..., 1] - h[..., 0], h[..., 0]], axis=-1)
    return coef / coef.max(axis=-1, keepdims=True)


def ipf_xyz(orientations: np.ndarray) -> np.ndarray:
    """IPF colours for the sample X, Y and Z directions.

    ``orientations [N, 3, 3]`` (sample -> crystal) -> ``ipf [N, 9]`` float64, ordered like the
    LASERNet columns ``ipf_x:0..2, ipf_y:0..2, ipf_z:0..2``. Column ``k`` of ``g`` is ``g @ e_k``.
    """
    g = np.asarray(orientations, dtype=np.float64)
    return np.concatenate([ipf_colour(g[:, :, k]) for k in range(3)], axis=-1)
