import json

import numpy as np
import pytest

from avlabel.io.errors import LabelsError
from avlabel.io.labels_file import labels_to_document, read_labels, write_labels
from avlabel.structs import Cuboid, LabelFrame, Labels
from tinylog import make_truth


def _labels():
    auto = Cuboid("p1", "track-7", "cyclist", [1.5, -2.0, 0.9], [1.8, 0.6, 1.7], 2.5, score=0.42, num_points=17,
                  source="auto", attributes={"state": "interpolated", "uncertainty": 0.31, "history": [{"annotator": "ana"}]})
    human = Cuboid("p2", "track-8", "car", [20.0, 3.0, 0.8], [4.4, 1.9, 1.5], -1.0, source="human", velocity=[3.0, -0.5])
    return Labels((LabelFrame(100, (auto, human), {"reviewed": True}), LabelFrame(200)), {"log": "town", "producer": "tests"})


def test_round_trip_is_identical(tmp_path):
    labels = _labels()
    write_labels(tmp_path / "labels.json", labels)
    assert read_labels(tmp_path / "labels.json") == labels
    truth = make_truth(np.arange(4) * 100_000)
    write_labels(tmp_path / "truth.json", truth)
    assert read_labels(tmp_path / "truth.json") == truth


def test_document_follows_the_contract():
    document = labels_to_document(_labels())
    assert document["schema"] == "avlabel.labels/1"
    cuboid = document["frames"][0]["cuboids"][0]
    assert {"id", "track_id", "label", "center", "size", "yaw", "score", "num_points", "source"} <= set(cuboid)
    assert "velocity" not in cuboid and document["frames"][0]["cuboids"][1]["velocity"] == [3.0, -0.5]
    assert cuboid["state"] == "interpolated"  # attributes are written flat


def test_attributes_may_not_shadow_core_fields(tmp_path):
    clash = Cuboid("a", "t", "car", [0, 0, 0], [1, 1, 1], 0.0, attributes={"score": 2})
    with pytest.raises(ValueError, match="core field"):
        write_labels(tmp_path / "x.json", Labels((LabelFrame(0, (clash,)),)))


def _write(tmp_path, document):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


@pytest.mark.parametrize(
    "mutate, where, message",
    [
        (lambda d: d.pop("schema"), "schema", "expected 'avlabel.labels/1'"),
        (lambda d: d.update(schema="avlabel.labels/0"), "schema", "expected"),
        (lambda d: d["frames"][0]["cuboids"][1].update(size=[4, -1, 1]), "frames[0].cuboids[1].size", "> 0"),
        (lambda d: d["frames"][0]["cuboids"][0].update(center=[1, 2]), "frames[0].cuboids[0].center", "3 items"),
        (lambda d: d["frames"][0]["cuboids"][0].pop("track_id"), "frames[0].cuboids[0].track_id", "required"),
        (lambda d: d["frames"][0]["cuboids"][0].update(source="robot"), "frames[0].cuboids[0].source", "auto"),
        (lambda d: d["frames"][0]["cuboids"][0].update(score=1.2), "frames[0].cuboids[0].score", "less than or equal"),
        (lambda d: d["frames"][1].update(timestamp_us="late"), "frames[1].timestamp_us", "integer"),
        (lambda d: d["frames"].reverse(), "frames", "increase strictly"),
    ],
)
def test_bad_labels_give_one_line_naming_the_field(tmp_path, mutate, where, message):
    document = labels_to_document(_labels())
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(LabelsError, match=message) as error:
        read_labels(path)
    assert f"{path}: {where}:" in str(error.value) and "\n" not in str(error.value)


def test_nan_in_json_is_rejected(tmp_path):
    text = json.dumps(labels_to_document(_labels())).replace('"yaw": 2.5', '"yaw": NaN').replace('"yaw":2.5', '"yaw":NaN')
    with pytest.raises(LabelsError, match="yaw"):
        read_labels(_write(tmp_path, text))


def test_not_json_missing_and_wrong_top_level(tmp_path):
    with pytest.raises(LabelsError, match="line 1 column"):
        read_labels(_write(tmp_path, "{not json"))
    with pytest.raises(LabelsError, match="no such file"):
        read_labels(tmp_path / "absent.json")
    with pytest.raises(LabelsError, match="expected a JSON object"):
        read_labels(_write(tmp_path, "[]"))


def test_writing_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "labels.json"
    write_labels(path, _labels())
    before = path.read_text()

    def failing_dumps(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("avlabel.io.labels_file.json.dumps", failing_dumps)
    with pytest.raises(RuntimeError):
        write_labels(path, Labels())
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]
