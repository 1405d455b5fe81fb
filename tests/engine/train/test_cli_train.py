"""``yolo classify train`` and ``yolo classify val`` as a user types them."""

from __future__ import annotations

from engine.cli import main


def test_train_then_val_from_the_command_line(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = main(["classify", "train", f"data={digits}", "model=yolov8n-cls.yaml",
                   "epochs=1", "imgsz=32", "batch=16", "workers=1", "plots=False"])
    out, err = capsys.readouterr()
    assert status == 0
    best = tmp_path / "runs" / "classify" / "train" / "weights" / "best.pt"
    assert best.is_file() and f"weights: {best.relative_to(tmp_path)}" in out
    assert "top1" in err and "1/1" in err  # the epoch table
    assert "Top1 acc" in out  # the per-class table
    status = main(["classify", "val", f"model={best}"])
    out, _ = capsys.readouterr()
    assert status == 0 and out.splitlines()[1].split()[:2] == ["all", "40"]
    assert (tmp_path / "runs" / "classify" / "val" / "confusion_matrix.png").is_file()


def test_missing_dataset_is_one_line_naming_it(tmp_path, capsys):
    status = main(["classify", "train", f"data={tmp_path / 'nowhere'}",
                   "model=yolov8n-cls.yaml"])
    err = capsys.readouterr().err
    assert status == 1 and str(tmp_path / "nowhere") in err and "no such folder" in err


def test_a_named_dataset_offline_says_where_to_put_it(capsys):
    status = main(["classify", "train", "data=mnist160", "model=yolov8n-cls.yaml"])
    err = capsys.readouterr().err
    assert status == 1 and "mnist160.zip" in err


def test_val_of_another_tasks_checkpoint_is_refused(tmp_path, capsys):
    from engine import YOLO

    path = YOLO("yolov8n-seg.yaml").save(tmp_path / "seg.pt")
    status = main(["classify", "val", f"model={path}"])
    err = capsys.readouterr().err
    assert status == 1 and "segment" in err and "classify" in err
