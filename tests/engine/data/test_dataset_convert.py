"""``yolo convert``: each tool's real files become a YOLO dataset the engine trains on, the
format and task are guessed and said, what does not fit is listed, and sources are only read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from engine.data.dataset_convert import convert_dataset, convert_from_cli, guess_format
from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.errors import DatasetError, SettingsError

FIXTURES = Path(__file__).parents[2] / "fixtures"

# pycocotools 2.0 predates numpy 2's copy keyword and warns on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


def _blank(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (90, 90, 90)).save(path)
    return path


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _labelme_example(tmp_path: Path) -> Path:
    """labelme's VOC instance-segmentation example, with blank photos of the right size."""
    folder = tmp_path / "data_annotated"
    folder.mkdir()
    for name in ("2011_000003", "2011_000006", "2011_000025"):
        shutil.copy(FIXTURES / "labelme" / f"{name}.json", folder)
        size = json.loads((folder / f"{name}.json").read_text())
        _blank(folder / f"{name}.jpg", size["imageWidth"], size["imageHeight"])
    return folder


def test_labelmes_instance_example_converts_with_every_object_in_its_place(tmp_path):
    source = _labelme_example(tmp_path)
    before = _digests(source)
    report = convert_dataset(source, tmp_path / "out")
    assert (report.format, report.task) == ("labelme", "segment")
    assert report.format_reason == "2011_000003.json: JSON with shapes"
    assert (report.images, report.read, report.written, report.skipped) == (3, 12, 12, 0)
    assert sorted(p.where for p in report.problems if "__ignore__" in p.reason) == [
        "shape 4", "shape 5"]
    dataset = load_detect_dataset(tmp_path / "out" / "data.yaml", "segment")
    split = verify_split(dataset.splits["train"], "segment", dataset.names, cache=False)
    # labelme lets a vertex sit a pixel past the edge: the loader clips it and says so
    assert [p.severity for p in split.problems] == ["warning"]
    counts = {}
    for sample in split.samples:
        for cls in sample.instances.cls.tolist():
            name = dataset.names[int(cls)]
            counts[(sample.image.stem, name)] = counts.get((sample.image.stem, name), 0) + 1
    assert counts == {("2011_000003", "person"): 2, ("2011_000003", "bottle"): 1,
                      ("2011_000006", "person"): 4, ("2011_000006", "chair"): 1,
                      ("2011_000006", "sofa"): 1, ("2011_000025", "bus"): 2,
                      ("2011_000025", "car"): 1}
    assert _digests(source) == before  # read only
    assert (tmp_path / "out/images/train/2011_000025.jpg").samefile(source / "2011_000025.jpg")
    report_text = (tmp_path / "out" / "convert-report.txt").read_text()
    assert "__ignore__" in report_text


def test_labelme2coco_images_beside_the_json_are_linked_and_labels_named_by_the_image(tmp_path):
    root = tmp_path / "data_dataset_coco"
    root.mkdir()
    shutil.copy(FIXTURES / "coco" / "labelme2coco_annotations.json", root / "annotations.json")
    content = json.loads((root / "annotations.json").read_text())
    for image in content["images"]:
        _blank(root / image["file_name"], image["width"], image["height"])
    report = convert_dataset(root / "annotations.json", tmp_path / "out")
    assert (report.format, report.task, report.images_missing) == ("coco", "segment", 0)
    assert report.written == 12
    labels = sorted(p.relative_to(tmp_path / "out").as_posix()
                    for p in (tmp_path / "out").rglob("*.txt") if p.name != "convert-report.txt")
    assert labels == [f"labels/train/{n}.txt" for n in ("2011_000003", "2011_000006",
                                                         "2011_000025")]
    assert "put the image" not in report.summary()


def test_a_cvat_zip_with_a_skeleton_converts_to_pose_and_lists_joints_and_missing_images(
        tmp_path):
    archive = tmp_path / "task.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(FIXTURES / "cvat" / "skeleton_outside.xml", "annotations.xml")
    report = convert_dataset(archive, tmp_path / "out")
    assert (report.format, report.format_reason) == ("cvat", "annotations.xml")
    assert report.task == "pose" and report.written == 3
    assert report.images_missing == report.images  # the XML came without its photos
    config = (tmp_path / "out" / "data.yaml").read_text()
    assert "kpt_shape:\n- 4\n- 3" in config and "nose" in config
    assert "joints not labelled" in report.summary()
    # lines name the member of the zip, not the temporary folder it was read from
    assert {p.file for p in report.problems if "joints" in p.reason} == {
        f"{archive}: annotations.xml"}


def test_label_studio_percent_polygons_convert(tmp_path):
    source = tmp_path / "export.json"
    shutil.copy(FIXTURES / "labelstudio" / "converter_test_export_yolo_data_polygons.json",
                source)
    assert guess_format(source) == ("labelstudio", "a JSON list of tasks")
    report = convert_dataset(source, tmp_path / "out", task="segment")
    assert report.written > 0 and report.written + report.skipped == report.read


def test_voc_masks_convert_with_holes_kept(tmp_path):
    report = convert_dataset(FIXTURES / "voc_masks" / "labelme2voc", tmp_path / "out")
    assert (report.format, report.task) == ("masks", "segment")
    assert report.written == report.read > 0


def test_a_rectangle_is_a_polygon_or_skipped_as_asked(tmp_path):
    folder = tmp_path / "boxes"
    folder.mkdir()
    for json_file in sorted((FIXTURES / "labelme" / "bbox_detection").glob("*.json")):
        shutil.copy(json_file, folder)
    as_polygons = convert_dataset(folder, tmp_path / "a", task="segment")
    skipped = convert_dataset(folder, tmp_path / "b", task="segment", rectangles="skip")
    assert as_polygons.written == skipped.skipped == as_polygons.read > 0
    assert skipped.written == 0
    lines = [p for p in skipped.problems if p.reason.startswith("a rectangle: left out")]
    assert len(lines) == skipped.read and all(p.where.startswith("shape ") for p in lines)


def test_a_second_source_adds_its_split_and_other_classes_are_refused(tmp_path):
    def coco(name: str, category: str) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps({
            "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
            "categories": [{"id": 1, "name": category}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 6, 1, 6, 6]]}]}))
        return path

    convert_dataset(coco("instances_train.json", "cat"), tmp_path / "out")
    convert_dataset(coco("instances_val.json", "cat"), tmp_path / "out")
    config = (tmp_path / "out" / "data.yaml").read_text()
    assert "train: images/train" in config and "val: images/val" in config
    with pytest.raises(DatasetError, match="already describes other classes"):
        convert_dataset(coco("instances_test.json", "dog"), tmp_path / "out")
    assert not (tmp_path / "out" / "labels" / "test").exists()


def test_crowds_are_left_out_unless_asked(tmp_path):
    source = tmp_path / "instances.json"
    source.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "cat"}],
        "annotations": [{"id": n, "image_id": 1, "category_id": 1, "iscrowd": n - 1,
                         "bbox": [1, 1, 5, 5], "segmentation": [[1, 1, 6, 1, 6, 6]]}
                        for n in (1, 2)]}))
    assert convert_dataset(source, tmp_path / "a").written == 1
    assert convert_dataset(source, tmp_path / "b", include_crowd=True).written == 2


def test_bad_settings_and_unreadable_sources_name_the_key_or_the_file(tmp_path):
    with pytest.raises(SettingsError, match="did you mean 'source'") as caught:
        convert_from_cli({"sourc": "x"})
    assert caught.value.key == "sourc"
    with pytest.raises(SettingsError) as caught:
        convert_from_cli({"source": "x", "format": "pascal"})
    assert caught.value.key == "format"
    with pytest.raises(DatasetError, match="does not exist"):
        convert_dataset(tmp_path / "nothing", tmp_path / "out")
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": 1}')
    with pytest.raises(DatasetError, match="is JSON but not COCO"):
        convert_dataset(odd, tmp_path / "out")
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zipped:
        zipped.writestr("../evil.txt", "x")
    with pytest.raises(DatasetError, match="evil.txt"):
        convert_dataset(slip, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(("source", "format", "missing"), [
    ("labelme/bbox_detection", "labelme", 3),
    ("cvat/cvat_docs_example.xml", "cvat", 1),
    ("labelstudio/converter_test_export_yolo_data_polygons.json", "labelstudio", 1),
    ("coco/labelme2coco_annotations.json", "coco", 3),
    ("voc_masks/labelme2voc", "masks", 3),
])
def test_a_missing_image_is_one_line_saying_what_was_looked_for_and_where_to_put_it(
        tmp_path, source, format, missing):
    report = convert_dataset(FIXTURES / source, tmp_path / "out")
    assert report.format == format and report.images_missing == missing
    about = [p for p in report.problems
             if "not found" in p.reason or "no image" in p.reason]
    assert len(about) == missing, [p.line() for p in about]
    for problem in about:
        assert "put the image at" in problem.reason and str(tmp_path / "out") in problem.reason
        assert problem.severity == "warning"  # its labels are written
    assert len({(p.file, p.where) for p in about}) == missing


def _coco_with_blanks(json_source: Path, json_target: Path, images: Path) -> None:
    """A COCO fixture copied to ``json_target`` with blank photos of its sizes in ``images``."""
    json_target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(json_source, json_target)
    for image in json.loads(json_target.read_text())["images"]:
        _blank(images / image["file_name"], image["width"], image["height"])


def _label_files(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in (out / "labels").rglob("*.txt"))


def test_a_coco_folder_with_annotations_per_split_converts_every_split(tmp_path):
    # Datumaro's (and COCO's own) layout: annotations/instances_<split>.json, images/<split>/
    root = tmp_path / "coco"
    for split in ("train", "val"):
        _coco_with_blanks(FIXTURES / "coco" / f"datumaro_instances_{split}.json",
                          root / "annotations" / f"instances_{split}.json",
                          root / "images" / split)
    before = _digests(root)
    report = convert_dataset(root, tmp_path / "out", task="segment")
    assert report.format == "coco"
    assert (report.images, report.images_missing) == (2, 0)
    assert _label_files(tmp_path / "out") == ["labels/train/a.txt", "labels/val/b.txt"]
    config = (tmp_path / "out" / "data.yaml").read_text()
    assert "train: images/train" in config and "val: images/val" in config
    assert _digests(root) == before


def test_a_roboflow_coco_export_folder_is_coco_with_its_split_folders(tmp_path):
    root = tmp_path / "roboflow"
    for split, fixture in (("train", "train"), ("valid", "val")):
        _coco_with_blanks(FIXTURES / "coco" / f"datumaro_instances_{fixture}.json",
                          root / split / "_annotations.coco.json", root / split)
    assert guess_format(root)[0] == "coco"
    report = convert_dataset(root, tmp_path / "out", task="detect")
    assert (report.images, report.images_missing) == (2, 0)
    assert _label_files(tmp_path / "out") == ["labels/train/a.txt", "labels/val/b.txt"]


def test_a_coco_val2017_file_alone_is_the_val_split_and_train_names_a_folder_that_exists(
        tmp_path):
    root = tmp_path / "coco"
    _coco_with_blanks(FIXTURES / "coco" / "datumaro_instances_val.json",
                      root / "annotations" / "instances_val2017.json", root / "images" / "val2017")
    report = convert_dataset(root / "annotations" / "instances_val2017.json", tmp_path / "out",
                             task="segment")
    assert report.images_missing == 0
    assert _label_files(tmp_path / "out") == ["labels/val/b.txt"]
    dataset = load_detect_dataset(tmp_path / "out" / "data.yaml", "segment")
    assert [p.name for p in dataset.splits["train"]] == ["b.jpg"]  # train reads val's images
    assert [p.name for p in dataset.splits["val"]] == ["b.jpg"]


def test_a_cvat_task_folder_whose_xml_is_named_after_the_subset_is_guessed(tmp_path):
    folder = tmp_path / "export_task"
    folder.mkdir()
    shutil.copy(FIXTURES / "cvat" / "datumaro_task.xml", folder / "train.xml")
    assert guess_format(folder) == ("cvat", "train.xml: an XML file")
    _blank(folder / "images" / "img0.jpg", 8, 8)
    _blank(folder / "images" / "img1.jpg", 10, 10)
    report = convert_dataset(folder, tmp_path / "out", task="detect")
    assert (report.images, report.images_missing) == (2, 0)


def test_bad_labelme_files_are_one_line_each_and_the_rest_converts(tmp_path):
    source = _labelme_example(tmp_path)
    good = json.loads((source / "2011_000025.json").read_text())
    shapes = [s for s in good["shapes"] if s["label"] != "__ignore__"]
    (source / "broken.json").write_text(json.dumps(good)[:300])  # cut short: malformed
    short = dict(good, shapes=[dict(shapes[0], points=shapes[0]["points"][:2])],
                 imagePath="short.jpg")
    (source / "short.json").write_text(json.dumps(short))
    _blank(source / "short.jpg", good["imageWidth"], good["imageHeight"])
    windows = dict(good, shapes=shapes, imagePath="C:\\Users\\me\\photos\\windows.jpg")
    (source / "windows.json").write_text(json.dumps(windows))
    _blank(source / "windows.jpg", good["imageWidth"], good["imageHeight"])
    (source / "latin1.json").write_bytes(json.dumps(dict(good, imagePath="XX.jpg")).encode()
                                         .replace(b"XX", "café".encode("latin-1")))
    odd_name = os.fsencode(source) + b"/caf\xe9.json"
    with open(odd_name, "wb") as file:
        file.write(json.dumps(dict(good, shapes=shapes, imagePath="odd.jpg")).encode())
    before = _digests(source)
    report = convert_dataset(source, tmp_path / "out")
    lines = {Path(p.file).name: p for p in report.problems if "__ignore__" not in p.reason}
    assert sorted(lines) == ["broken.json", "caf\ufffd.json", "latin1.json", "short.json",
                             "windows.json"], [p.line() for p in report.problems]
    assert lines["broken.json"].where == "line 1" and "not valid JSON" in lines["broken.json"].reason
    assert lines["short.json"].where == "shape 0" and "at least 3 points" in lines[
        "short.json"].reason
    assert lines["windows.json"].where == "imagePath" and "absolute" in lines[
        "windows.json"].reason
    assert "UTF-8" in lines["latin1.json"].reason and "UTF-8" in lines["caf\ufffd.json"].reason
    # the three good photos, and the Windows path's photo found by its name beside the JSON
    assert report.written == 12 + 3 and report.images_missing == 0  # windows.json: 2 bus, car
    assert (tmp_path / "out" / "images" / "train" / "windows.jpg").samefile(source / "windows.jpg")
    assert _digests(source) == before


@pytest.mark.parametrize(("name", "text", "line"), [
    ("annotations.xml", '<?xml version="1.0"?>\n<annotations>\n  <image id="0" name="a.jpg"'
                        ' width="4" height="4">\n  </imag>\n</annotations>\n', 4),
    ("tasks.json", '[\n  {"id": 1, "data": {"image": "a.jpg"},\n  "annotations": [}\n]\n', 3),
    ("coco.json", '{\n "images": [],\n "annotations": [],\n "categories": [,]\n}\n', 4),
])
def test_a_malformed_file_is_one_message_naming_its_line_and_nothing_is_written(
        tmp_path, name, text, line):
    source = tmp_path / name
    source.write_text(text)
    with pytest.raises(DatasetError) as caught:
        convert_dataset(source, tmp_path / "out")
    assert caught.value.line == line and str(source) in str(caught.value)
    assert not (tmp_path / "out").exists()
    assert source.read_text() == text


def test_a_cvat_polygon_of_two_points_is_one_line_and_the_rest_converts(tmp_path):
    source = tmp_path / "annotations.xml"
    source.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        '  <image id="0" name="a.jpg" width="10" height="10">\n'
        '    <polygon label="cat" points="1,1;5,5" occluded="0"/>\n'
        '    <polygon label="cat" points="1,1;5,1;5,5" occluded="0"/>\n'
        '  </image>\n</annotations>\n')
    _blank(tmp_path / "images" / "a.jpg", 10, 10)
    report = convert_dataset(source, tmp_path / "out")
    errors = [p for p in report.problems if p.severity == "error"]
    assert len(errors) == 1 and "line 5" in errors[0].where, [p.line() for p in errors]
    assert report.written == 1


def test_a_zip_holding_one_label_studio_export_converts(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(FIXTURES / "labelstudio" / "converter_test_export_yolo_data_polygons.json",
                     "project-1.json")
    report = convert_dataset(archive, tmp_path / "out")
    assert (report.format, report.written) == ("labelstudio", 1)
    assert {p.file for p in report.problems} == {f"{archive}: project-1.json"}


def test_lines_about_files_below_a_masks_or_yolo_folder_name_the_folder_or_the_archive(
        tmp_path):
    source = FIXTURES / "voc_masks" / "labelme2voc"
    report = convert_dataset(source, tmp_path / "out")
    assert f"{source}/SegmentationObject/2011_000003.png" in {p.file for p in report.problems}
    archive = tmp_path / "voc.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(source.rglob("*")):
            zipped.write(path, path.relative_to(source).as_posix())
    report = convert_dataset(archive, tmp_path / "out-zip")
    files = {p.file for p in report.problems}
    assert f"{archive}: SegmentationObject/2011_000003.png" in files
    assert all(file.startswith(f"{archive}: ") for file in files), files


def test_a_yolo_pose_source_names_its_files_below_it_and_the_output_yaml_as_written(
        tmp_path, monkeypatch):
    source = tmp_path / "pose"
    _blank(source / "images" / "train" / "a.jpg", 20, 10)
    (source / "labels" / "train").mkdir(parents=True)
    (source / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.5 0.5 0.5 0.5 2 0.6 0.6 2\n0 0.5 0.5 0.5 0.5 x 0.5 2 0.6 0.6 2\n")
    (source / "data.yaml").write_text("train: images/train\nval: images/train\n"
                                      "kpt_shape: [2, 3]\nnames: [hand]\n")
    monkeypatch.chdir(tmp_path)
    report = convert_dataset("pose", "out")
    files = {p.file for p in report.problems}
    assert files == {"pose/labels/train/a.txt", "out/data.yaml"}, files  # a bad line; flip_idx


def test_a_source_with_no_image_of_the_format_given_is_refused_and_nothing_is_written(tmp_path):
    source = tmp_path / "coco"
    source.mkdir()
    shutil.copy(FIXTURES / "coco" / "labelme2coco_annotations.json", source / "annotations.json")
    with pytest.raises(DatasetError, match="no labelme JSON file") as caught:
        convert_dataset(source, tmp_path / "out", format="labelme")
    assert "format=" in caught.value.message
    assert not (tmp_path / "out").exists()


def test_the_summary_counts_what_the_reader_left_out_beside_what_the_fit_skipped(tmp_path):
    source = tmp_path / "primitives"
    source.mkdir()
    shutil.copy(FIXTURES / "labelme" / "primitives.json", source)
    content = json.loads((source / "primitives.json").read_text())
    _blank(source / content["imagePath"], content["imageWidth"], content["imageHeight"])
    report = convert_dataset(source, tmp_path / "out")
    # 8 shapes: a line and a linestrip cannot be read, a point has no outline
    assert (report.read, report.written, report.skipped, report.unread) == (6, 5, 1, 2)
    assert "1 images: 6 objects read, 5 written, 1 skipped, 2 more left out when read" in (
        report.summary())


def test_report_lines_come_file_by_file_in_the_order_of_the_elements(tmp_path):
    source = tmp_path / "primitives"
    source.mkdir()
    shutil.copy(FIXTURES / "labelme" / "primitives.json", source)
    content = json.loads((source / "primitives.json").read_text())
    _blank(source / content["imagePath"], content["imageWidth"], content["imageHeight"])
    report = convert_dataset(source, tmp_path / "out")  # reader's lines, then the fit's
    assert [p.where for p in report.problems] == [
        "shape 0", "shape 2", "shape 4", "shape 5", "shape 6"]
    text = (tmp_path / "out" / "convert-report.txt").read_text()
    header, lines = text.split("\n\n")
    # the report file starts with what yolo convert printed above its problem lines
    assert header.splitlines()[:3] == report.summary().splitlines()[:3]
    assert "6 objects read, 5 written, 1 skipped" in header
    assert [line.split("\t")[2] for line in lines.splitlines()] == [
        p.where for p in report.problems]


def test_a_tie_between_boxes_and_point_sets_is_guessed_detect_which_keeps_both():
    from engine.data.dataset_convert import guess_task
    from engine.formats.labelset import Keypoint, LabeledImage, LabeledObject, LabelSet

    box = LabeledObject("car", "rectangle", "box 0", box=(1.0, 1.0, 5.0, 5.0))
    points = LabeledObject("car", "points", "points 1", keypoints=(Keypoint("1", 2, 2),))
    image = LabeledImage(Path("a.jpg"), 10, 10, "a.xml", objects=(box, points))
    assert guess_task(LabelSet("cvat", Path("a.xml"), [image])) == (
        "detect", "1 of 2 objects are boxes")


def test_images_given_for_a_format_that_finds_its_own_is_refused_not_ignored(tmp_path):
    with pytest.raises(SettingsError, match="coco and labelstudio") as caught:
        convert_dataset(FIXTURES / "cvat" / "cvat_docs_example.xml", tmp_path / "out",
                        images=tmp_path)
    assert caught.value.key == "images" and not (tmp_path / "out").exists()


def test_cocos_own_annotations_folder_reads_each_split_once_for_the_task(tmp_path):
    # COCO's download: captions_, instances_ and person_keypoints_<split>.json side by side
    root = tmp_path / "coco"
    _coco_with_blanks(FIXTURES / "coco" / "datumaro_instances_val.json",
                      root / "annotations" / "instances_val2017.json", root / "val2017")
    shutil.copy(FIXTURES / "coco" / "datumaro_person_keypoints_val.json",
                root / "annotations" / "person_keypoints_val2017.json")
    captions = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    captions = {"images": captions["images"],
                "annotations": [{"id": 1, "image_id": captions["images"][0]["id"],
                                 "caption": "a thing"}]}
    (root / "annotations" / "captions_val2017.json").write_text(json.dumps(captions))
    report = convert_dataset(root, tmp_path / "out", task="segment")
    assert report.images == 1 and report.images_missing == 0
    assert {Path(p.file).name for p in report.problems} <= {"instances_val2017.json"}
    pose = convert_dataset(root, tmp_path / "pose", task="pose")
    assert pose.images == 1 and pose.written == 1
