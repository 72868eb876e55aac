"""Rigid transforms: 4x4 float64 matrices named `a_from_b`, so `a_from_b @ p_b = p_a`.

Points are (N, 3) row-major (never 3 x N). Quaternions are (w, x, y, z) and appear only at
the edges (files, IMU samples); everything inside works on matrices. pyquaternion is the
reference for the quaternion convention (Hamilton, active rotation, `q * v * q^-1`).
"""

from __future__ import annotations

import numpy as np
from pyquaternion import Quaternion


def make_transform(rotation: np.ndarray, translation: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A 4x4 float64 rigid transform from a (3, 3) rotation and a (3,) translation.

    Stacks are accepted too: rotation (N, 3, 3) and translation (N, 3) give (N, 4, 4).
    The rotation is used as given (not re-orthonormalised).
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation: expected shape (3, 3) or (N, 3, 3), got {rotation.shape}")
    leading = rotation.shape[:-2]
    translation = np.broadcast_to(translation, leading + (3,)) if translation.shape != leading + (3,) else translation
    transform = np.zeros(leading + (4, 4), dtype=np.float64)
    transform[..., :3, :3] = rotation
    transform[..., :3, 3] = translation
    transform[..., 3, 3] = 1.0
    return transform


def invert_rigid(a_from_b: np.ndarray) -> np.ndarray:
    """b_from_a of a rigid a_from_b (4, 4) or a stack (N, 4, 4): R^T and -R^T t, no general inverse."""
    a_from_b = np.asarray(a_from_b, dtype=np.float64)
    if a_from_b.shape[-2:] != (4, 4):
        raise ValueError(f"a_from_b: expected shape (4, 4) or (N, 4, 4), got {a_from_b.shape}")
    rotation_transposed = np.swapaxes(a_from_b[..., :3, :3], -1, -2)
    translation = -np.einsum("...ij,...j->...i", rotation_transposed, a_from_b[..., :3, 3])
    return make_transform(rotation_transposed, translation)


def transform_points(a_from_b: np.ndarray, points_b: np.ndarray) -> np.ndarray:
    """Apply a (4, 4) transform to (N, 3) points of frame b; returns (N, 3) float64 in frame a.

    Extra columns are not carried: pass `points[:, :3]`.
    """
    a_from_b = np.asarray(a_from_b, dtype=np.float64)
    points_b = np.asarray(points_b)
    if a_from_b.shape != (4, 4):
        raise ValueError(f"a_from_b: expected shape (4, 4), got {a_from_b.shape}")
    if points_b.ndim != 2 or points_b.shape[1] != 3:
        raise ValueError(f"points: expected shape (N, 3), got {points_b.shape} (pass points[:, :3])")
    return points_b @ a_from_b[:3, :3].T + a_from_b[:3, 3]


def rotate_vectors(a_from_b: np.ndarray, vectors_b: np.ndarray) -> np.ndarray:
    """Rotate (N, 3) direction vectors (velocities, rates) by the rotation of a (4, 4) or (3, 3) transform."""
    rotation = np.asarray(a_from_b, dtype=np.float64)[:3, :3]
    vectors_b = np.asarray(vectors_b, dtype=np.float64)
    if vectors_b.shape[-1] != 3:
        raise ValueError(f"vectors: expected shape (..., 3), got {vectors_b.shape}")
    return vectors_b @ rotation.T


def yaw_of(a_from_b: np.ndarray) -> float | np.ndarray:
    """Heading (radians, around +z, 0 along +x, counter-clockwise) of frame b's x axis in frame a.

    Works on (4, 4), (3, 3) or stacks (N, 4, 4) / (N, 3, 3); returns a float or (N,) float64.
    """
    matrix = np.asarray(a_from_b, dtype=np.float64)
    yaw = np.arctan2(matrix[..., 1, 0], matrix[..., 0, 0])
    return float(yaw) if np.ndim(yaw) == 0 else yaw


def rotation_about_z(yaw: float) -> np.ndarray:
    """(3, 3) rotation by `yaw` radians around +z (counter-clockwise seen from above)."""
    cos, sin = np.cos(yaw), np.sin(yaw)
    return np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])


def transform_from_yaw(yaw: float, translation: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """A (4, 4) transform rotating by `yaw` around +z, then translating."""
    return make_transform(rotation_about_z(yaw), translation)


def matrix_from_quaternion(quaternion_wxyz: np.ndarray | tuple[float, float, float, float]) -> np.ndarray:
    """(3, 3) rotation of a unit quaternion (w, x, y, z), through pyquaternion.

    The quaternion is normalised first; a zero quaternion is a ValueError.
    """
    values = np.asarray(quaternion_wxyz, dtype=np.float64)
    if values.shape != (4,):
        raise ValueError(f"quaternion: expected (w, x, y, z), got shape {values.shape}")
    norm = np.linalg.norm(values)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ValueError(f"quaternion: cannot normalise {values.tolist()} (zero or not finite)")
    return Quaternion(values / norm).rotation_matrix


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """(4,) float64 unit quaternion (w, x, y, z) with w >= 0 of a (3, 3) rotation or (4, 4) transform."""
    matrix = np.asarray(rotation, dtype=np.float64)
    if matrix.shape not in ((3, 3), (4, 4)):
        raise ValueError(f"rotation: expected shape (3, 3) or (4, 4), got {matrix.shape}")
    quaternion = Quaternion(matrix=matrix[:3, :3], atol=1e-6, rtol=1e-6)
    values = quaternion.normalised.elements
    return values if values[0] >= 0 else -values


def transform_from_quaternion(quaternion_wxyz: np.ndarray, translation: np.ndarray | tuple[float, float, float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """(4, 4) transform from a (w, x, y, z) quaternion and a (3,) translation (nuScenes' pose form)."""
    return make_transform(matrix_from_quaternion(quaternion_wxyz), translation)


# --------------------------------------------------------------------------- vectorised quaternions
# Used inside hot code (pose interpolation); tested against pyquaternion.


def quaternions_from_matrices(rotations: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z), w >= 0, of (N, 3, 3) rotations (or (N, 4, 4) transforms).

    Shepperd's method: pick the largest of w, x, y, z to divide by, so it is stable everywhere.
    """
    matrices = np.asarray(rotations, dtype=np.float64)[..., :3, :3]
    if matrices.ndim != 3:
        raise ValueError(f"rotations: expected shape (N, 3, 3), got {matrices.shape}")
    m00, m01, m02 = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
    m10, m11, m12 = matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2]
    m20, m21, m22 = matrices[:, 2, 0], matrices[:, 2, 1], matrices[:, 2, 2]
    # 4 * square of each component; the largest one is divided by.
    squares = np.stack(
        [1.0 + m00 + m11 + m22, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22], axis=1
    )
    choice = np.argmax(squares, axis=1)
    root = np.sqrt(np.maximum(squares[np.arange(len(matrices)), choice], 1e-300))  # 2 |q_largest|
    quaternions = np.empty((len(matrices), 4))
    candidates = [
        np.stack([root / 2, (m21 - m12) / (2 * root), (m02 - m20) / (2 * root), (m10 - m01) / (2 * root)], axis=1),
        np.stack([(m21 - m12) / (2 * root), root / 2, (m01 + m10) / (2 * root), (m02 + m20) / (2 * root)], axis=1),
        np.stack([(m02 - m20) / (2 * root), (m01 + m10) / (2 * root), root / 2, (m12 + m21) / (2 * root)], axis=1),
        np.stack([(m10 - m01) / (2 * root), (m02 + m20) / (2 * root), (m12 + m21) / (2 * root), root / 2], axis=1),
    ]
    for index, candidate in enumerate(candidates):
        rows = choice == index
        quaternions[rows] = candidate[rows]
    quaternions /= np.linalg.norm(quaternions, axis=1, keepdims=True)
    quaternions[quaternions[:, 0] < 0] *= -1.0
    return quaternions


def matrices_from_quaternions(quaternions_wxyz: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations of (N, 4) quaternions (w, x, y, z); they are normalised first."""
    values = np.asarray(quaternions_wxyz, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 4:
        raise ValueError(f"quaternions: expected shape (N, 4), got {values.shape}")
    values = values / np.linalg.norm(values, axis=1, keepdims=True)
    w, x, y, z = values.T
    rotations = np.empty((len(values), 3, 3))
    rotations[:, 0, 0] = 1 - 2 * (y * y + z * z)
    rotations[:, 0, 1] = 2 * (x * y - w * z)
    rotations[:, 0, 2] = 2 * (x * z + w * y)
    rotations[:, 1, 0] = 2 * (x * y + w * z)
    rotations[:, 1, 1] = 1 - 2 * (x * x + z * z)
    rotations[:, 1, 2] = 2 * (y * z - w * x)
    rotations[:, 2, 0] = 2 * (x * z - w * y)
    rotations[:, 2, 1] = 2 * (y * z + w * x)
    rotations[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return rotations


def slerp_quaternions(start_wxyz: np.ndarray, end_wxyz: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Spherical linear interpolation, row by row: (N, 4), (N, 4), (N,) -> (N, 4) unit quaternions.

    Takes the short way round (flips `end` where the dot product is negative), as
    pyquaternion's `Quaternion.slerp` does; falls back to normalised linear
    interpolation when the two rotations are within 1e-6 rad of each other.
    Fractions outside [0, 1] extrapolate along the same great circle.
    """
    start = np.asarray(start_wxyz, dtype=np.float64)
    end = np.asarray(end_wxyz, dtype=np.float64).copy()
    fractions = np.asarray(fractions, dtype=np.float64)[:, None]
    dot = np.sum(start * end, axis=1)
    end[dot < 0] *= -1.0
    dot = np.clip(np.abs(dot), -1.0, 1.0)[:, None]
    angle = np.arccos(dot)
    sin_angle = np.sin(angle)
    close = sin_angle[:, 0] < 1e-6
    safe = np.where(close[:, None], 1.0, sin_angle)
    start_weight = np.where(close[:, None], 1.0 - fractions, np.sin((1.0 - fractions) * angle) / safe)
    end_weight = np.where(close[:, None], fractions, np.sin(fractions * angle) / safe)
    result = start_weight * start + end_weight * end
    return result / np.linalg.norm(result, axis=1, keepdims=True)
