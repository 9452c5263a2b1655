"""The cubic m-3m IPF colour key and random orientations."""

import numpy as np
import pytest

from simrnn.fields.ipf import ipf_colour, ipf_xyz, random_orientations


@pytest.mark.parametrize(
    ("direction", "rgb"),
    [([0, 0, 1], [1, 0, 0]), ([1, 0, 1], [0, 1, 0]), ([1, 1, 1], [0, 0, 1]), ([0, 1, 1], [0, 1, 0])],
)
def test_corners_of_the_standard_triangle(direction, rgb):
    np.testing.assert_allclose(ipf_colour(np.array(direction, float)), rgb, atol=1e-12)


def test_symmetric_directions_share_a_colour_and_colours_are_in_range():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(200, 3))
    variants = [h * [-1, 1, 1], h[:, [2, 0, 1]], -h, h[:, [1, 0, 2]] * [1, -1, -1], 3.5 * h]
    for other in variants:
        np.testing.assert_allclose(ipf_colour(other), ipf_colour(h), atol=1e-12)
    rgb = ipf_colour(h)
    assert rgb.min() >= 0 and np.allclose(rgb.max(axis=1), 1)


def test_intermediate_direction_mixes_its_corners():
    np.testing.assert_allclose(ipf_colour(np.array([1.0, 0, 2])), [1, 1, 0])  # halfway [001]-[101]


def test_random_orientations_are_rotations_and_identity_gives_red_z():
    g = random_orientations(500, np.random.default_rng(0))
    np.testing.assert_allclose(g @ g.transpose(0, 2, 1), np.broadcast_to(np.eye(3), g.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(g), 1, atol=1e-12)
    assert abs(g[:, 2, 2].mean()) < 0.1  # uniform: no preferred axis
    ipf = ipf_xyz(np.eye(3)[None])
    np.testing.assert_allclose(ipf, [[1, 0, 0, 1, 0, 0, 1, 0, 0]])  # sample X, Y, Z along <100>: red
