import os
import stat

from avlabel.io.atomic import write_text


def test_atomic_outputs_get_ordinary_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text(tmp_path / "labels.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "labels.json").stat().st_mode) == 0o644


def test_atomic_outputs_follow_the_umask(tmp_path):
    previous = os.umask(0o077)
    try:
        write_text(tmp_path / "private.json", "{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600
