"""Atomic folder writes: the old folder or the new one, never half of one."""

import pytest

from engine.utils.atomic import atomic_directory


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_new_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "best_openvino_model"
    with atomic_directory(target) as staging:
        (staging / "best.xml").write_text("<net/>")
        assert not target.exists() and staging.parent == tmp_path
    assert _names(target) == ["best.xml"] and _names(tmp_path) == ["best_openvino_model"]


def test_a_failed_write_keeps_the_previous_folder_and_leaves_no_temp(tmp_path):
    target = tmp_path / "m_ncnn_model"
    with atomic_directory(target) as staging:
        (staging / "old.param").write_text("1")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "new.param").write_text("2")
        raise RuntimeError("converter crashed")
    assert _names(target) == ["old.param"] and _names(tmp_path) == ["m_ncnn_model"]
    with atomic_directory(target) as staging:
        (staging / "new.param").write_text("2")
    assert _names(target) == ["new.param"] and _names(tmp_path) == ["m_ncnn_model"]


def test_a_file_in_the_way_is_not_replaced(tmp_path):
    target = tmp_path / "m_saved_model"
    target.write_text("a user's file")
    with pytest.raises(FileExistsError, match="is not a folder"), atomic_directory(target) as s:
        (s / "saved_model.pb").write_bytes(b"x")
    assert target.read_text() == "a user's file" and _names(tmp_path) == ["m_saved_model"]
