"""Fixtures of the eval tests (imported by the test modules: a second conftest.py outside a
package would shadow tests/conftest.py): one synthetic scene with many boxes, evaluated once."""

from __future__ import annotations

import pytest

from avlabel.eval.evaluate import evaluate
from avlabel.eval.synthetic import SyntheticScene, synthetic_scene


@pytest.fixture(scope="session")
def scene() -> SyntheticScene:
    """30 frames x 25 objects (4 classes, velocities, attributes), misses, false positives,
    identity switches and flipped headings."""
    return synthetic_scene(30, 25, seed=3, switch_rate=0.05)


@pytest.fixture(scope="session")
def result(scene):
    """The scene evaluated without poses: nothing filtered by range (as the reference tools see it)."""
    return evaluate(scene.predictions, scene.truth)
