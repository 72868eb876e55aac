"""The HTML report: self-contained, every section present, robust to empty inputs."""

from __future__ import annotations

import re

import pytest

from avlabel.eval.evaluate import evaluate, evaluate_paths
from avlabel.eval.render import write_report
from avlabel.eval.synthetic import synthetic_scene
from avlabel.io import write_labels
from avlabel.structs import Labels


@pytest.mark.slow
def test_report_is_one_self_contained_page(tmp_path):
    scene = synthetic_scene(12, 10, seed=2, ignore_regions=1)
    result = evaluate(scene.predictions, scene.truth, world_from_ego=scene.poses)
    page = write_report(result, tmp_path / "report", predictions=scene.predictions, truth=scene.truth)
    text = page.read_text(encoding="utf-8")
    assert page == tmp_path / "report" / "index.html"
    for heading in ("Detection", "By distance from the ego", "Class confusion", "Tracking", "Truth track timelines", "Annotation effort", "Worst cases"):
        assert f">{heading}" in text, heading
    images = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    # PR curves, error vs distance, confusion, timelines and 9 worst cases
    assert len(images) == 4 + len(result.worst_cases) and len(result.worst_cases) == 9
    assert not re.search(r'(src|href)="(?!data:)', text)  # nothing fetched from elsewhere
    assert f"{result.detection.mean_ap:.3f}" in text


@pytest.mark.slow
def test_report_without_poses_or_predictions(tmp_path):
    scene = synthetic_scene(5, 4, seed=1)
    write_labels(tmp_path / "truth.json", scene.truth)
    write_labels(tmp_path / "none.json", Labels())
    result = evaluate_paths(tmp_path / "none.json", tmp_path / "truth.json", report_dir=tmp_path / "report")
    text = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert result.detection.mean_ap == 0.0
    assert "No ego poses were given" in text and ">Worst cases" in text
    with pytest.raises(ValueError, match="not a directory"):
        write_report(result, tmp_path / "truth.json", predictions=Labels(), truth=scene.truth)
