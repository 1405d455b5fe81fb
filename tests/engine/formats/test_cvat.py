"""CVAT for images 1.1 XML read by ``read_cvat``: files CVAT and Datumaro wrote (their docs and
test assets, MIT), and bad input named by image, element and line. Writing: test_cvat_write."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from engine.errors import DatasetError
from engine.formats.cvat import read_cvat
from engine.formats.cvat_write import write_cvat
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabelSet,
)
from engine.formats.outlines import fill_outlines

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cvat"
DOCS = FIXTURES / "cvat_docs_example.xml"
PROJECT = FIXTURES / "datumaro_project.xml"
TASK = FIXTURES / "datumaro_task.xml"
SKELETON = FIXTURES / "skeleton_outside.xml"
DOCS_MASK_RLE = ("3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, "
                 "9, 5, 7, 7, 5, 3")


def _xml(tmp_path: Path, body: str, meta: str = "", name: str = "annotations.xml") -> Path:
    labels = "".join(f"<label><name>{n}</name></label>" for n in ("car", "person", "plate"))
    text = (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
            f"<meta><task><labels>{labels}</labels></task>{meta}</meta>\n{body}\n"
            "</annotations>\n")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _blank(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path)


def _digest(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _reasons(labelset: LabelSet) -> list[str]:
    return [p.line() for p in labelset.problems]


# -- files the tools wrote ---------------------------------------------------------------------


def test_the_cvat_docs_example_reads_every_shape_as_written():
    labelset = read_cvat(DOCS)
    assert labelset.format == "cvat"
    assert labelset.labels == ["car", "traffic_line", "wheel", "plate", "s1", "good_frame"]
    assert labelset.keypoint_names == ("1", "2", "3")
    # svg edges: node 2 -> 3 and node 1 -> 2, node ids naming joints "1".."3"
    assert labelset.skeleton == ((1, 2), (0, 1))
    (image,) = labelset.images
    assert (image.name, image.width, image.height, image.path) == (
        PurePosixPath("filename000.jpg"), 1600, 1200, None)
    assert image.tags == ("good_frame",)
    plate, car, wheel, skeleton, mask = image.objects
    assert (plate.label, plate.kind, plate.box) == ("plate", "rectangle",
                                                     (797.33, 870.92, 965.52, 928.94))
    assert plate.where == "image 'filename000.jpg', box 0 (line 81)"
    assert (car.label, car.kind, len(car.polygons[0])) == ("car", "polygon", 69)
    assert car.polygons[0][0].tolist() == [561.30, 916.23]
    assert car.polygons[0][-1].tolist() == [560.20, 966.67]
    assert (wheel.label, wheel.kind) == ("wheel", "points")
    assert wheel.keypoints == (Keypoint("1", 574.90, 939.48), Keypoint("2", 1170.16, 907.90),
                               Keypoint("3", 1130.69, 445.26), Keypoint("4", 600.16, 459.48))
    assert (skeleton.label, skeleton.kind) == ("s1", "points")
    assert skeleton.keypoints == (Keypoint("1", 54.47, 94.81, VISIBLE),
                                  Keypoint("2", 68.02, 162.34, VISIBLE),
                                  Keypoint("3", 125.87, 62.85, VISIBLE))
    assert (mask.label, mask.kind) == ("car", "mask")
    reasons = _reasons(labelset)
    assert len(reasons) == 4
    assert "polyline 2 (line 85): a polyline is an open line with no area" in reasons[0]
    assert "polyline 3 (line 87)" in reasons[1]
    assert "tag 5 (line 91): label 'good_frame' is not declared" in reasons[2]
    assert "image not found" in reasons[3]


def test_the_docs_mask_traces_to_exactly_its_run_length_pixels():
    # the runs alternate 0s and 1s over the 13 x 15 crop at (707, 888), row by row
    runs = [int(v) for v in DOCS_MASK_RLE.split(", ")]
    flat = [i % 2 for i, run in enumerate(runs) for _ in range(run)]
    expected = np.array(flat, np.uint8).reshape(15, 13)
    mask = read_cvat(DOCS).images[0].objects[-1]
    filled = fill_outlines(mask.polygons, mask.holes, 1200, 1600)
    assert filled.sum() == expected.sum() == 149
    assert np.array_equal(filled[888:903, 707:720], expected)
    assert mask.bounds() == (707.0, 888.0, 719.0, 902.0)


def test_a_datumaro_project_export_reads_every_subset_with_its_images(tmp_path):
    shutil.copy(PROJECT, tmp_path / "annotations.xml")
    for subset in ("Train", "Validation", "Test"):
        _blank(tmp_path / "images" / subset / "img0.jpg", 8, 8)
        _blank(tmp_path / "images" / subset / "img1.jpg", 10, 10)
    labelset = read_cvat(tmp_path)  # the folder holding annotations.xml
    assert labelset.labels == ["label1", "label2"]
    assert [(str(i.name), i.split) for i in labelset.images] == [
        ("img0.jpg", "test"), ("img1.jpg", "test"), ("img0.jpg", "train"),
        ("img1.jpg", "train"), ("img0.jpg", "val"), ("img1.jpg", "val")]
    assert labelset.images[4].path == tmp_path / "images" / "Validation" / "img0.jpg"
    box, = labelset.images[0].objects
    assert (box.label, box.kind, box.box) == ("label1", "rectangle", (0.0, 2.0, 4.0, 4.0))
    polygon, points = labelset.images[1].objects
    assert polygon.polygons[0].tolist() == [[1, 2], [3, 4], [6, 5]]
    assert [(k.name, k.x, k.y) for k in points.keypoints] == [("1", 1, 2), ("2", 3, 4),
                                                             ("3", 5, 6)]
    assert labelset.object_count() == 9
    reasons = _reasons(labelset)
    assert len(reasons) == 3 and all("polyline 1" in r for r in reasons)
    assert "image 'img0.jpg' in Train, polyline 1 (line 159)" in reasons[1]


def test_a_datumaro_task_export_leaves_out_shapes_without_a_label():
    labelset = read_cvat(TASK)
    assert [len(i.objects) for i in labelset.images] == [1, 1]
    assert labelset.images[1].objects[0].label == "label2"
    reasons = _reasons(labelset)
    assert any("img1.jpg', polygon 0 (line 53): the shape has no label" in r for r in reasons)
    assert any("img0.jpg', polyline 1 (line 50)" in r for r in reasons)
    assert labelset.images[0].path is None  # the fixture keeps no photos


def test_skeleton_joints_outside_are_not_labelled_and_occluded_are_hidden(tmp_path):
    shutil.copy(SKELETON, tmp_path / "annotations.xml")
    _blank(tmp_path / "images" / "walk" / "frame_01.jpg", 640, 480)
    labelset = read_cvat(tmp_path / "annotations.xml")
    assert labelset.labels == ["person"]
    assert labelset.keypoint_names == ("nose", "left_eye", "right_eye", "neck")
    assert labelset.skeleton == ((0, 1), (0, 2), (0, 3))
    first, second = labelset.images
    assert first.name == PurePosixPath("walk/frame_01.jpg")
    assert first.path == tmp_path / "images" / "walk" / "frame_01.jpg"
    one, two = first.objects
    assert one.keypoints == (Keypoint("nose", 320.5, 100.25, VISIBLE),
                             Keypoint("left_eye", 310.0, 90.75, OCCLUDED),
                             Keypoint("right_eye", 0.0, 0.0, ABSENT),  # its 12.5,13.5 ignored
                             Keypoint("neck", 321.0, 160.0, VISIBLE))
    assert two.keypoints[3] == Keypoint("neck", 0.0, 0.0, ABSENT)  # no <points> for it
    assert [k.visibility for k in second.objects[0].keypoints] == [OCCLUDED, ABSENT, ABSENT,
                                                                   ABSENT]
    assert [p.line() for p in labelset.problems] == [
        f"{tmp_path / 'annotations.xml'}, image 'frame_02.jpg': image not found beside the XML"
        " (looked for images/frame_02.jpg, frame_02.jpg); its labels are read"]


def test_reading_leaves_the_source_files_byte_identical(tmp_path):
    sources = [DOCS, PROJECT, TASK, SKELETON]
    before = _digest(sources)
    for source in sources:
        write_cvat(read_cvat(source), tmp_path / source.stem)
    assert _digest(sources) == before


# -- bad input ---------------------------------------------------------------------------------


def test_malformed_xml_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "annotations.xml"
    path.write_text('<?xml version="1.0"?>\n<annotations>\n  <image id="0" name="a.jpg"\n'
                    '  <box/>\n</annotations>\n', encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        read_cvat(path)
    assert caught.value.line == 4 and caught.value.path == str(path)
    assert f"{path}:4: not well-formed XML" in str(caught.value)


def test_entity_declarations_and_cvat_for_video_are_refused(tmp_path):
    laughs = tmp_path / "laughs.xml"
    laughs.write_text('<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY lol "lol">\n'
                      '<!ENTITY lol2 "&lol;&lol;">]>\n<annotations>&lol2;</annotations>\n')
    with pytest.raises(DatasetError, match="declares the entity 'lol'"):
        read_cvat(laughs)
    video = _xml(tmp_path, '<track id="0" label="car"><box frame="0" xtl="1" ytl="1" '
                 'xbr="2" ybr="2" outside="0" keyframe="1"/></track>')
    with pytest.raises(DatasetError, match="CVAT for video") as caught:
        read_cvat(video)
    assert caught.value.line == 5
    other = tmp_path / "other.xml"
    other.write_text("<dataset/>\n")
    with pytest.raises(DatasetError, match="the root element is <dataset>, not <annotations>"):
        read_cvat(other)


def test_a_bad_shape_is_named_and_the_rest_is_read(tmp_path):
    path = _xml(tmp_path, """<image id="0" name="a.jpg" width="100" height="50">
  <polygon label="car" points="1,2;3,4"/>
  <polygon label="car" points="1,2;3,4;5,x"/>
  <cuboid label="car" xtl1="1"/>
  <box label="car" xtl="1" ytl="2" xbr="3"/>
  <box label="car" xtl="1" ytl="2" xbr="30" ybr="40"/>
  <mask label="car" rle="1, 2" left="0" top="0" width="2" height="2"/>
</image>""")
    labelset = read_cvat(path)
    (image,) = labelset.images
    assert [o.kind for o in image.objects] == ["rectangle"]
    assert image.objects[0].where == "image 'a.jpg', box 4 (line 10)"
    reasons = [p.line() for p in labelset.problems if p.severity == "error"]
    assert reasons[0].endswith("polygon 0 (line 6): a polygon needs at least 3 points, it "
                               "has 2")
    assert reasons[1].endswith("polygon 1 (line 7): a number does not parse ('x')")
    assert "cuboid 2 (line 8): <cuboid> is not a shape this reader knows" in reasons[2]
    assert reasons[3].endswith("box 3 (line 9): the <box> has no 'ybr'")
    assert "mask 5 (line 11): the mask's rle covers 3 pixels, its crop 2x2 has 4" in reasons[4]


def test_a_label_outside_the_meta_is_kept_and_added_with_one_warning(tmp_path):
    path = _xml(tmp_path, """<image id="0" name="a.jpg" width="100" height="50">
  <box label="bus" xtl="1" ytl="2" xbr="3" ybr="4"/>
  <box label="bus" xtl="5" ytl="6" xbr="7" ybr="8"/>
  <tag label="night"/>
</image>""")
    labelset = read_cvat(path)
    assert labelset.labels == ["car", "person", "plate", "bus", "night"]
    assert [o.label for o in labelset.images[0].objects] == ["bus", "bus"]
    assert labelset.images[0].tags == ("night",)
    warnings = [p for p in labelset.problems if "not declared" in p.reason]
    assert [(p.where, p.severity) for p in warnings] == [
        ("image 'a.jpg', box 0 (line 6)", "warning"), ("image 'a.jpg', tag 2 (line 8)",
                                                       "warning")]


def test_a_missing_image_keeps_its_labels_and_a_bad_image_header_is_named(tmp_path):
    path = _xml(tmp_path, """<image id="0" name="gone.jpg" width="100" height="50">
  <box label="car" xtl="1" ytl="2" xbr="3" ybr="4"/>
</image>
<image id="1" name="here.jpg" width="100" height="fifty"/>
<image id="2" name="" width="10" height="10"/>""")
    labelset = read_cvat(path)
    (image,) = labelset.images
    assert image.path is None and len(image.objects) == 1
    lines = _reasons(labelset)
    assert "image 'gone.jpg': image not found beside the XML" in lines[0]
    assert lines[1].endswith("image 1 (line 8): the image's height must be a whole number of "
                             "pixels, not 'fifty'; the image and its labels are left out")
    assert lines[2].endswith("image 2 (line 9): the image has no name; the image and its "
                             "labels are left out")


def test_a_name_that_is_not_utf8_is_one_warning_and_the_rest_is_read(tmp_path):
    path = tmp_path / "annotations.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                     b'<image id="0" name="caf\xe9.jpg" width="4" height="4">\n'
                     b'<box label="cup" xtl="0" ytl="0" xbr="2" ybr="2"/></image>\n'
                     b'<image id="1" name="\xc3\xa9t\xc3\xa9.jpg" width="4" height="4"/>\n'
                     b"</annotations>\n")
    before = path.read_bytes()
    labelset = read_cvat(path)
    first, second = labelset.images
    assert str(first.name) == "caf\ufffd.jpg" and len(first.objects) == 1
    assert str(second.name) == "été.jpg"
    assert labelset.problems[0].where == "line 3"
    assert "not UTF-8" in labelset.problems[0].reason
    assert path.read_bytes() == before


def test_a_latin1_file_reads_its_names_and_finds_the_image(tmp_path):
    path = tmp_path / "annotations.xml"
    path.write_bytes('<?xml version="1.0" encoding="ISO-8859-1"?>\n<annotations>'
                     '<image id="0" name="café.jpg" width="4" height="3"/></annotations>'
                     .encode("latin-1"))
    _blank(tmp_path / "images" / "café.jpg", 4, 3)
    (image,) = read_cvat(path).images
    assert image.path == tmp_path / "images" / "café.jpg"


def test_absolute_and_escaping_names_are_looked_for_by_file_name(tmp_path):
    path = _xml(tmp_path, r"""<image id="0" name="C:\data\set\a b.jpg" width="4" height="4"/>
<image id="1" name="/srv/x.jpg" width="4" height="4"/>
<image id="2" name="../up.jpg" width="4" height="4"/>
<image id="3" name="sub\dir\win.jpg" width="4" height="4"/>""")
    _blank(tmp_path / "images" / "a b.jpg", 4, 4)
    labelset = read_cvat(path)
    assert [str(i.name) for i in labelset.images] == ["a b.jpg", "x.jpg", "up.jpg",
                                                      "sub/dir/win.jpg"]
    assert labelset.images[0].path == tmp_path / "images" / "a b.jpg"
    changed = [p for p in labelset.problems if "looked for by its file name" in p.reason]
    assert [p.where.split(" (line")[0] for p in changed] == [
        r"image 'C:\\data\\set\\a b.jpg'", "image '/srv/x.jpg'", "image '../up.jpg'"]


# -- shapes turned into what a LabelSet holds --------------------------------------------------


def test_grouped_shapes_of_one_label_are_one_object_in_parts(tmp_path):
    path = _xml(tmp_path, """<image id="0" name="a.jpg" width="100" height="100">
  <polygon label="car" group_id="3" points="0,0;10,0;10,10"/>
  <polygon label="person" group_id="3" points="20,20;30,20;30,30"/>
  <box label="car" group_id="3" xtl="50" ytl="50" xbr="60" ybr="70"/>
  <polygon label="car" group_id="0" points="0,0;5,0;5,5"/>
</image>""")
    car, person, lone = read_cvat(path).images[0].objects
    assert (car.label, car.kind, len(car.polygons)) == ("car", "polygon", 2)
    assert car.polygons[1].tolist() == [[50, 50], [60, 50], [60, 70], [50, 70]]
    assert car.where == "image 'a.jpg', shapes 0, 2 (group 3)"
    assert (person.label, len(person.polygons)) == ("person", 1)
    assert lone.where.startswith("image 'a.jpg', polygon 3")


def test_rotated_boxes_and_ellipses_become_polygons(tmp_path):
    path = _xml(tmp_path, """<image id="0" name="a.jpg" width="100" height="100">
  <box label="car" xtl="10" ytl="20" xbr="30" ybr="30" rotation="90"/>
  <ellipse label="car" cx="50" cy="40" rx="20" ry="10" rotation="0"/>
  <ellipse label="car" cx="50" cy="40" rx="600" ry="10" rotation="30"/>
</image>""")
    box, ellipse, long = read_cvat(path).images[0].objects
    # 90 degrees clockwise on screen about the centre (20, 25): the top-left corner moves right
    assert np.allclose(box.polygons[0], [[25, 15], [25, 35], [15, 35], [15, 15]])
    ring = ellipse.polygons[0]
    assert ellipse.kind == "polygon" and len(ring) >= 32
    assert np.allclose(((ring[:, 0] - 50) / 20) ** 2 + ((ring[:, 1] - 40) / 10) ** 2, 1)
    assert len(long.polygons[0]) > 32  # a long ellipse gets more points
