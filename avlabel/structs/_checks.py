"""Input checks shared by the data types: each raises ValueError naming the field."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def array(
    name: str,
    value: Any,
    dtype: type | np.dtype,
    shape: tuple[int | None, ...],
    *,
    finite: bool = True,
    convert: bool = True,
) -> np.ndarray:
    """Return `value` as an array of `dtype` and `shape` (None = any length).

    With `convert=False` the dtype must already match: used where a silent cast would
    hide a bug (float64 points that should have been float32, say).
    """
    target = np.dtype(dtype)
    if convert:
        try:
            result = np.asarray(value, dtype=target)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: expected an array of {target}, got {type(value).__name__} ({error})") from None
    else:
        if not isinstance(value, np.ndarray) or value.dtype != target:
            got = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
            raise ValueError(f"{name}: expected dtype {target}, got {got} (convert with np.asarray(..., dtype=np.{target}))")
        result = value
    if result.ndim != len(shape) or any(want is not None and got != want for got, want in zip(result.shape, shape)):
        expected = "(" + ", ".join("N" if want is None else str(want) for want in shape) + ")"
        raise ValueError(f"{name}: expected shape {expected}, got {tuple(result.shape)}")
    if finite and result.dtype.kind == "f" and result.size and not np.isfinite(result).all():
        bad = int(np.count_nonzero(~np.isfinite(result)))
        raise ValueError(f"{name}: {bad} value(s) are NaN or infinite")
    return result


def rigid_transform(name: str, value: Any) -> np.ndarray:
    """A 4x4 float64 rigid transform: orthonormal rotation with det +1, last row 0 0 0 1."""
    matrix = array(name, value, np.float64, (4, 4))
    rotation = matrix[:3, :3]
    if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) or np.linalg.det(rotation) < 0:
        raise ValueError(f"{name}: the 3x3 block is not a rotation (orthonormal, det +1)")
    if not np.allclose(matrix[3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError(f"{name}: last row must be [0, 0, 0, 1], got {matrix[3].tolist()}")
    return matrix


def rigid_transforms(name: str, value: Any) -> np.ndarray:
    """An (N, 4, 4) stack of rigid transforms."""
    matrices = array(name, value, np.float64, (None, 4, 4))
    rotations = matrices[:, :3, :3]
    products = np.einsum("nij,nkj->nik", rotations, rotations)
    if matrices.size and (
        not np.allclose(products, np.eye(3), atol=1e-6) or (np.linalg.det(rotations) < 0).any()
    ):
        raise ValueError(f"{name}: some 3x3 blocks are not rotations (orthonormal, det +1)")
    if matrices.size and not np.allclose(matrices[:, 3], (0.0, 0.0, 0.0, 1.0)):
        raise ValueError(f"{name}: every last row must be [0, 0, 0, 1]")
    return matrices


def timestamps(name: str, value: Any, *, strictly_increasing: bool = True) -> np.ndarray:
    """(N,) int64 microseconds, strictly increasing unless told otherwise."""
    stamps = np.asarray(value)
    if stamps.dtype.kind not in "iu":
        raise ValueError(f"{name}: expected integer microseconds, got dtype {stamps.dtype}")
    stamps = array(name, stamps, np.int64, (None,))
    if strictly_increasing and stamps.size > 1:
        steps = np.diff(stamps)
        if (steps <= 0).any():
            index = int(np.argmax(steps <= 0))
            raise ValueError(
                f"{name}: timestamps must increase strictly; "
                f"[{index}]={stamps[index]} then [{index + 1}]={stamps[index + 1]}"
            )
    return stamps


def integer(name: str, value: Any, *, minimum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    result = int(value)
    if minimum is not None and result < minimum:
        raise ValueError(f"{name}: expected at least {minimum}, got {result}")
    return result


def real(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name}: expected a finite number, got {result}")
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        raise ValueError(f"{name}: expected a value in [{minimum}, {maximum}], got {result}")
    return result


def text(name: str, value: Any, *, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: expected a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(choices)}; got {value!r}")
    return value


class ArrayEquality:
    """Field-by-field equality for frozen dataclasses that hold numpy arrays."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_equal(getattr(self, name), getattr(other, name)) for name in self.__dataclass_fields__)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        left_array, right_array = np.asarray(left), np.asarray(right)
        return left_array.shape == right_array.shape and bool(
            np.array_equal(left_array, right_array, equal_nan=left_array.dtype.kind == "f")
        )
    if isinstance(left, (tuple, list)) and isinstance(right, (tuple, list)):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    return left == right
