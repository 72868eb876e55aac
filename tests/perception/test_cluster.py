"""avlabel.perception.cluster: DBSCAN against scikit-learn and a slow, obvious NumPy twin."""

from __future__ import annotations

import numpy as np
import pytest
from scenes import street_scene
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN

from avlabel.perception.cluster import dbscan, dbscan_with_core, euclidean_clusters, range_adaptive_dbscan


def reference_dbscan(points: np.ndarray, eps: float, min_points: int) -> tuple[np.ndarray, np.ndarray]:
    """The obvious O(N^2) DBSCAN: all distances, core by count, components of the core
    graph numbered by lowest index, border points to their nearest core point."""
    count = len(points)
    if count == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(-1))
    within = distances <= eps
    core = within.sum(1) >= min_points
    labels = np.full(count, -1, np.int64)
    cluster = 0
    for seed in range(count):
        if not core[seed] or labels[seed] >= 0:
            continue
        labels[seed] = cluster
        frontier = [seed]
        while frontier:
            point = frontier.pop()
            for other in np.flatnonzero(within[point] & core):
                if labels[other] < 0:
                    labels[other] = cluster
                    frontier.append(other)
        cluster += 1
    for point in np.flatnonzero(~core):
        candidates = np.flatnonzero(within[point] & core)
        if len(candidates):
            labels[point] = labels[candidates[np.argmin(distances[point, candidates])]]
    return labels, core


def assert_matches_scikit_learn(points: np.ndarray, eps: float, min_points: int) -> None:
    ours, our_core = dbscan_with_core(points, eps, min_points)
    if len(points) == 0:
        assert ours.shape == (0,)
        return
    reference = DBSCAN(eps=eps, min_samples=min_points).fit(points)
    core = np.zeros(len(points), bool)
    core[reference.core_sample_indices_] = True
    np.testing.assert_array_equal(our_core, core)
    # Same partition of core points, numbered alike.
    np.testing.assert_array_equal(ours[core], reference.labels_[core])
    # Same noise; every border point sits in a cluster with a core point within eps.
    np.testing.assert_array_equal(ours < 0, reference.labels_ < 0)
    tree = cKDTree(points[core])
    core_labels = ours[core]
    for point in np.flatnonzero(~core & (ours >= 0)):
        neighbours = tree.query_ball_point(points[point], eps)
        assert ours[point] in core_labels[neighbours]


def random_cloud(rng: np.random.Generator, count: int) -> np.ndarray:
    kind = rng.integers(0, 4)
    if kind == 0:
        return rng.uniform(0, rng.uniform(1, 10), (count, 3))
    if kind == 1:  # blobs of different spreads
        centres = rng.uniform(-10, 10, (rng.integers(1, 8), 3))
        return centres[rng.integers(0, len(centres), count)] + rng.normal(0, rng.uniform(0.1, 1.0), (count, 3))
    if kind == 2:  # many duplicates
        base = rng.uniform(0, 3, (max(1, count // 5), 3))
        return base[rng.integers(0, len(base), count)]
    # a flat, dense layer under sparse points (ground and objects)
    flat = np.column_stack([rng.uniform(-5, 5, (count, 2)), rng.normal(0, 0.02, count)])
    flat[: count // 3, 2] += rng.uniform(0.3, 2.0, count // 3)
    return flat


def test_matches_scikit_learn_on_random_clouds():
    rng = np.random.default_rng(12)
    for _ in range(250):
        points = random_cloud(rng, int(rng.integers(1, 500)))
        assert_matches_scikit_learn(points, float(rng.uniform(0.05, 1.5)), int(rng.integers(1, 12)))


def test_matches_scikit_learn_on_a_street_sweep():
    scene = street_scene(3, azimuth_steps=500)
    points = scene.points[:, :3].astype(np.float64)
    for eps, min_points in ((0.5, 5), (0.3, 3), (1.0, 10), (0.2, 1)):
        assert_matches_scikit_learn(points, eps, min_points)


def test_agrees_exactly_with_the_numpy_twin():
    rng = np.random.default_rng(5)
    for _ in range(150):
        points = random_cloud(rng, int(rng.integers(0, 250)))
        eps, min_points = float(rng.uniform(0.05, 1.5)), int(rng.integers(1, 10))
        labels, core = dbscan_with_core(points, eps, min_points)
        expected_labels, expected_core = reference_dbscan(points, eps, min_points)
        np.testing.assert_array_equal(core, expected_core)
        np.testing.assert_array_equal(labels, expected_labels)


def test_edge_cases():
    assert dbscan(np.zeros((0, 3)), 0.5, 5).shape == (0,)
    assert dbscan(np.zeros((0, 3)), 0.5, 5).dtype == np.int64
    np.testing.assert_array_equal(dbscan(np.array([[1.0, 2.0, 3.0]]), 0.5, 1), [0])
    np.testing.assert_array_equal(dbscan(np.array([[1.0, 2.0, 3.0]]), 0.5, 2), [-1])
    np.testing.assert_array_equal(dbscan(np.ones((7, 3)), 0.1, 7), np.zeros(7))
    np.testing.assert_array_equal(dbscan(np.ones((6, 3)), 0.1, 7), np.full(6, -1))
    # float32 and integer input, world-frame magnitudes
    points = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 5]], dtype=np.float32) + np.float32(1e5)
    np.testing.assert_array_equal(dbscan(points, 1.01, 2), [0, 0, -1])
    np.testing.assert_array_equal(dbscan(np.array([[0, 0, 0], [0, 0, 1], [0, 0, 5]]), 1.0, 2), [0, 0, -1])


def test_huge_extent_with_a_tiny_eps_sorts_without_overflow():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.uniform(0, 1e-3, (40, 3)), rng.uniform(1e9, 1e9 + 1e-3, (40, 3))])
    assert_matches_scikit_learn(points, 4e-4, 3)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_points_are_rejected(bad):
    points = np.zeros((4, 3))
    points[2, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        dbscan(points, 0.5, 2)


@pytest.mark.parametrize(
    ("points", "eps", "min_points", "message"),
    [
        (np.zeros((4, 2)), 0.5, 2, "shape"),
        (np.zeros(3), 0.5, 2, "shape"),
        (np.array([["a", "b", "c"]]), 0.5, 2, "numeric"),
        (np.zeros((4, 3)), 0.0, 2, "eps"),
        (np.zeros((4, 3)), -1.0, 2, "eps"),
        (np.zeros((4, 3)), np.nan, 2, "eps"),
        (np.zeros((4, 3)), "0.5", 2, "eps"),
        (np.zeros((4, 3)), 0.5, 0, "min_points"),
        (np.zeros((4, 3)), 0.5, 2.5, "min_points"),
        (np.zeros((4, 3)), 0.5, True, "min_points"),
    ],
)
def test_bad_arguments_are_rejected(points, eps, min_points, message):
    with pytest.raises(ValueError, match=message):
        dbscan(points, eps, min_points)


def test_euclidean_clusters_are_connected_components():
    rng = np.random.default_rng(3)
    points = rng.uniform(0, 8, (600, 3))
    labels = euclidean_clusters(points, 0.6)
    pairs = cKDTree(points).query_pairs(0.6, output_type="ndarray")
    graph = csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(600, 600))
    _, expected = connected_components(graph, directed=False)
    assert (labels >= 0).all()
    # identical partitions: a bijection between the label sets
    assert len(set(zip(labels, expected))) == len(set(labels)) == len(set(expected))


def test_range_adaptive_keeps_a_sparse_far_object_whole():
    # A near pair of objects 0.45 m apart, and a far object sampled every 0.7 m.
    near = np.concatenate([np.column_stack([np.full(30, 5.0), np.linspace(0, 1, 30), np.zeros(30)]) + offset for offset in (0.0, (0.45, 0, 0))])
    far = np.column_stack([np.full(8, 60.0), np.arange(8) * 0.7, np.zeros(8)])
    points = np.concatenate([near, far])
    plain = dbscan(points, 0.3, 2)
    adaptive = range_adaptive_dbscan(points, 0.3, 2, eps_per_metre=0.013)
    assert not (len(set(plain[60:])) == 1 and plain[60] >= 0)  # plain DBSCAN loses the far object
    assert len(set(adaptive[60:])) == 1 and adaptive[60] >= 0
    assert adaptive[0] != adaptive[30]  # near objects stay apart
    assert len(set(adaptive[:30])) == 1 and len(set(adaptive[30:60])) == 1
