"""Run pictures: confusion matrices, results.csv curves and training-batch mosaics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.errors import EngineError
from engine.plots import plot_confusion_matrix, plot_image_grid, plot_results

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_HEADER = (
    "                  epoch,             train/loss,  metrics/accuracy_top1,"
    "  metrics/accuracy_top5,               val/loss,                 lr/pg0,"
    "                 lr/pg1,                 lr/pg2"
)


def _decode(path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, f"{path} does not decode"
    return image


def _only_files(folder) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- confusion matrix ------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [2, 30, 1000])
def test_confusion_matrix_plots_decode_for_small_and_huge_class_counts(tmp_path, classes):
    rng = np.random.default_rng(classes)
    matrix = rng.integers(0, 20, (classes, classes)).astype(np.int64)
    names = [f"class_{index}" for index in range(classes)]
    out = plot_confusion_matrix(matrix, names, tmp_path / "confusion_matrix.png", normalize=False)
    assert out == tmp_path / "confusion_matrix.png"
    height, width = _decode(out).shape[:2]
    assert 500 <= height <= 3000 and 500 <= width <= 3500
    assert _only_files(tmp_path) == ["confusion_matrix.png"]


def test_normalised_matrix_differs_from_raw_counts(tmp_path):
    matrix = np.array([[50, 2, 0], [10, 5, 1], [0, 0, 0]])  # last class has no samples
    names = ["cat", "dog", "fox"]
    raw = _decode(
        plot_confusion_matrix(matrix, names, tmp_path / "confusion_matrix.png", normalize=False)
    )
    normalised = _decode(
        plot_confusion_matrix(matrix, names, tmp_path / "confusion_matrix_normalized.png")
    )
    normalised = cv2.resize(normalised, raw.shape[1::-1])  # tick-label widths differ a little
    assert np.abs(raw.astype(int) - normalised.astype(int)).mean() > 1
    assert _only_files(tmp_path) == ["confusion_matrix.png", "confusion_matrix_normalized.png"]


def test_confusion_matrix_shape_must_match_names(tmp_path):
    with pytest.raises(ValueError, match=r"must be \[3, 3\]"):
        plot_confusion_matrix(np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "cm.png")
    assert _only_files(tmp_path) == []


def test_failed_save_leaves_the_previous_plot_and_no_temp_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    target = tmp_path / "confusion_matrix.png"
    target.write_bytes(b"previous plot")

    def broken_savefig(self, handle, **kwargs):
        handle.write(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="No space left"):
        plot_confusion_matrix(np.eye(2, dtype=np.int64), ["a", "b"], target)
    assert target.read_bytes() == b"previous plot"
    assert _only_files(tmp_path) == ["confusion_matrix.png"]


def test_matplotlib_loads_only_when_plotting_never_pyplot_and_threads_can_plot(tmp_path):
    code = (
        "import sys, threading, numpy as np\n"
        "import engine, engine.plots\n"
        "assert 'matplotlib' not in sys.modules\n"
        "def draw(i):\n"
        "    matrix = np.full((4, 4), i + 1)\n"
        "    engine.plots.plot_confusion_matrix(matrix, list('abcd'), f'{sys.argv[1]}/cm{i}.png')\n"
        "threads = [threading.Thread(target=draw, args=(i,)) for i in range(3)]\n"
        "[thread.start() for thread in threads]\n"
        "[thread.join() for thread in threads]\n"
        "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=ROOT)
    assert _only_files(tmp_path) == ["cm0.png", "cm1.png", "cm2.png"]
    for name in _only_files(tmp_path):
        _decode(tmp_path / name)


# -- results.csv -----------------------------------------------------------------------------


def _write_results(path, rows: int) -> None:
    lines = [REFERENCE_HEADER]
    for epoch in range(1, rows + 1):
        values = [epoch, 2.0 / epoch, 0.5 + epoch / 40, 0.9, 1.5 / epoch, 0.01, 0.01, 0.01]
        lines.append(",".join(f"{value:>23.5g}" for value in values))
    path.write_text("\n".join(lines) + "\n")


def test_results_png_is_written_beside_the_csv(tmp_path):
    csv_path = tmp_path / "results.csv"
    _write_results(csv_path, 12)
    out = plot_results(csv_path)
    assert out == tmp_path / "results.png"
    height, width = _decode(out).shape[:2]
    assert width > height > 300  # 7 plots: two rows of up to five
    assert _only_files(tmp_path) == ["results.csv", "results.png"]


def test_results_with_any_columns_and_an_explicit_path(tmp_path):
    csv_path = tmp_path / "results.csv"
    columns = ["epoch"] + [f"train/loss{index}" for index in range(11)]
    rows = [",".join(str(epoch * (index + 1)) for index in range(12)) for epoch in range(1, 4)]
    csv_path.write_text("\n".join([",".join(columns), *rows]) + "\n")
    out = plot_results(csv_path, tmp_path / "plots" / "curves.png")
    assert _decode(out).shape[0] > 500  # three rows of plots
    one_row = tmp_path / "one.csv"
    one_row.write_text("epoch,train/loss\n")
    one_row_png = _decode(plot_results(one_row, tmp_path / "one.png"))
    assert one_row_png.shape[0] < _decode(out).shape[0]


@pytest.mark.parametrize("columns", [1, 3, 7, 11])
def test_results_png_fits_every_title_and_tick_label_without_overlap(tmp_path, monkeypatch,
                                                                      columns):
    import engine.plots

    names = ["train/box_loss", "metrics/mAP50-95(M)", "lr/pg0", "val/dfl_loss"]
    header = ["epoch"] + [names[i % len(names)] + str(i) for i in range(columns)]
    scales = [1234.5, 0.00075, 0.331, -0.4, 1e-5, 3.2]
    rows = [",".join([str(epoch)] + [f"{scales[i % len(scales)] * (1 + epoch % 3):.6g}"
                                     for i in range(columns)]) for epoch in range(1, 31)]
    csv_path = tmp_path / "results.csv"
    csv_path.write_text("\n".join([",".join(header), *rows]) + "\n")
    drawn = []
    real_save = engine.plots._save_figure
    monkeypatch.setattr(engine.plots, "_save_figure",
                        lambda figure, path, **kw: drawn.append(figure) or real_save(
                            figure, path, **kw))
    _decode(plot_results(csv_path))
    figure = drawn[0]
    renderer = figure.canvas.get_renderer()
    page = figure.bbox
    boxes = [axes.get_tightbbox(renderer) for axes in figure.axes]
    for axes, box in zip(figure.axes, boxes, strict=True):
        assert (box.x0 >= page.x0 and box.y0 >= page.y0 and box.x1 <= page.x1
                and box.y1 <= page.y1), axes.get_title()
    for i, box in enumerate(boxes):
        for other in boxes[i + 1:]:
            assert not box.overlaps(other)


@pytest.mark.parametrize("rows", [0, 1])
def test_header_only_or_one_row_is_fine(tmp_path, rows):
    csv_path = tmp_path / "results.csv"
    _write_results(csv_path, rows)
    _decode(plot_results(csv_path))


def test_only_an_epoch_column_still_gives_a_picture(tmp_path):
    csv_path = tmp_path / "results.csv"
    csv_path.write_text("epoch\n1\n2\n")
    _decode(plot_results(csv_path))


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("epoch,loss\n1,0.5\n2,abc\n", 3, "not a number"),
        ("epoch,loss\n1,0.5\n\n3,0.1,9\n", 4, "3 values where the header names 2 columns"),
        ("", 1, "no header row"),
        ("epoch,loss\n1,\xff\n", 2, "not a UTF-8 text file"),
    ],
)
def test_garbled_csv_names_the_file_and_line(tmp_path, text, line, message):
    csv_path = tmp_path / "results.csv"
    csv_path.write_bytes(text.encode("latin-1"))
    with pytest.raises(EngineError, match=message) as caught:
        plot_results(csv_path)
    assert caught.value.path == str(csv_path) and caught.value.line == line
    assert f"{csv_path}:{line}" in str(caught.value)
    assert _only_files(tmp_path) == ["results.csv"]


def test_missing_csv_names_the_file(tmp_path):
    with pytest.raises(EngineError, match="cannot read the results file") as caught:
        plot_results(tmp_path / "results.csv")
    assert caught.value.path == str(tmp_path / "results.csv")
    assert _only_files(tmp_path) == []


# -- image grid ------------------------------------------------------------------------------


def test_grid_of_a_float_rgb_batch_keeps_colours_and_caps_the_count(tmp_path):
    batch = torch.zeros(20, 3, 64, 64)
    batch[:, 0] = 1.0  # pure red in RGB
    labels = [f"digit {index % 10}" for index in range(20)]
    out = plot_image_grid(batch, labels, tmp_path / "train_batch0.jpg")
    mosaic = _decode(out)
    assert mosaic.shape == (640, 640, 3)  # 16 tiles, 4 x 4, small images upscaled to 160
    blue, green, red = mosaic[150, 80].astype(int)  # bottom of the first tile, below its label
    assert red > 200 and blue < 60 and green < 60
    assert _only_files(tmp_path) == ["train_batch0.jpg"]


def test_grid_of_uint8_bgr_images_is_bgr_as_given(tmp_path):
    images = np.zeros((3, 200, 300, 3), np.uint8)
    images[..., 0] = 255  # pure blue in BGR
    out = plot_image_grid(images, ["a", "b", "ünïcode"], tmp_path / "grid.png")
    mosaic = _decode(out)
    assert mosaic.shape == (400, 600, 3)  # 3 tiles in a 2 x 2 grid, no scaling needed
    np.testing.assert_array_equal(mosaic[390, 150], [255, 0, 0])
    np.testing.assert_array_equal(mosaic[390, 450], [114, 114, 114])  # the empty fourth cell


def test_large_images_are_scaled_down(tmp_path):
    images = np.full((16, 640, 640, 3), 200, np.uint8)
    mosaic = _decode(plot_image_grid(images, ["x"] * 16, tmp_path / "grid.jpg", max_images=9))
    assert mosaic.shape == (1920, 1920, 3)


@pytest.mark.parametrize(
    ("images", "labels", "name", "message"),
    [
        (np.zeros((2, 3, 8, 8), np.uint8), ["a", "b"], "g.jpg", "float RGB in 0..1"),
        (np.zeros((2, 8, 8, 3), np.float32), ["a", "b"], "g.jpg", "float RGB in 0..1"),
        (np.zeros((2, 8, 8, 3), np.uint8), ["a"], "g.jpg", "1 labels for 2 images"),
        (np.zeros((0, 8, 8, 3), np.uint8), [], "g.jpg", "at least one image"),
        (np.zeros((1, 8, 8, 3), np.uint8), ["a"], "g.txt", "use a .jpg"),
    ],
)
def test_grid_refuses_bad_input_and_writes_nothing(tmp_path, images, labels, name, message):
    with pytest.raises(ValueError, match=message):
        plot_image_grid(images, labels, tmp_path / name)
    assert _only_files(tmp_path) == []
