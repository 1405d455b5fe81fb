"""Where file dialogs start."""

from pathlib import Path

from studio.ui.file_dialogs import start_folder


def test_project_folder_then_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    assert start_folder(tmp_path) == str(tmp_path)
    assert start_folder(None) == str(tmp_path / "home")
    assert start_folder(tmp_path / "gone") == str(tmp_path)  # a file's parent
    assert start_folder(None, "") == str(tmp_path / "home")


def test_preferred_wins_when_it_exists(tmp_path: Path) -> None:
    chosen = tmp_path / "weights"
    chosen.mkdir()
    assert start_folder(tmp_path / "project", chosen) == str(chosen)
    assert start_folder(tmp_path, chosen / "model.pt") == str(chosen)
