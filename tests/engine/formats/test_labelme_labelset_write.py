"""labelme folders written from a LabelSet (engine.formats.labelme_labelset_write): what we write is
labelme JSON beside the image, read back the same by our reader, the sources left as they
were."""

from __future__ import annotations

import base64
import io
import json
import os
from pathlib import PurePosixPath

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelme_labelset import (
    UNBOXED_POINTS_LABEL,
    read_labelme_folder,
)
from engine.formats.labelme_labelset_write import write_labelme_folder
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
)
from engine.formats.outlines import fill_outlines

from .test_labelme_labelset import (
    FIXTURES,
    INSTANCE_FILES,
    _by_name,
    _copy_with_images,
    _digests,
    _png,
)


def _assert_same_objects(first: LabelSet, second: LabelSet, tolerance: float = 1e-6) -> None:
    assert sorted(i.name for i in first.images) == sorted(i.name for i in second.images)
    again = _by_name(second)
    for a in first.images:
        b = again[str(a.name)]
        assert (a.width, a.height, a.tags) == (b.width, b.height, b.tags)
        assert len(a.objects) == len(b.objects), a.name
        for x, y in zip(a.objects, b.objects, strict=True):
            assert (x.label, x.kind) == (y.label, y.kind)
            assert (x.box is None) == (y.box is None)
            if x.box is not None:
                assert np.allclose(x.box, y.box, rtol=0, atol=tolerance)
            assert len(x.polygons) == len(y.polygons) and len(x.holes) == len(y.holes)
            for p, q in zip(x.polygons + x.holes, y.polygons + y.holes, strict=True):
                assert p.shape == q.shape and np.allclose(p, q, rtol=0, atol=tolerance)
            assert [(k.name, k.visibility) for k in x.keypoints] == \
                [(k.name, k.visibility) for k in y.keypoints]
            assert np.allclose([(k.x, k.y) for k in x.keypoints],
                               [(k.x, k.y) for k in y.keypoints], rtol=0, atol=tolerance)


def test_real_files_round_trip_and_the_sources_stay_as_they_were(tmp_path):
    source = tmp_path / "source"
    _copy_with_images([*INSTANCE_FILES, "primitives.json", "classification_0001.json"], source)
    _copy_with_images(INSTANCE_FILES, source / "boxes", FIXTURES / "bbox_detection")
    before = _digests(source)
    first = read_labelme_folder(source)
    out = tmp_path / "out"
    written = write_labelme_folder(first, out)
    assert [p.relative_to(out).as_posix() for p in written] == [
        "2011_000003.json", "2011_000006.json", "2011_000025.json", "0001.json",
        "primitives.json", "boxes/2011_000003.json", "boxes/2011_000006.json",
        "boxes/2011_000025.json"]
    for image in first.images:  # the caller links the images beside the labels
        os.link(image.path, out / image.name)
    second = read_labelme_folder(out)
    assert [p for p in second.problems if p.severity == "error"] == []
    _assert_same_objects(first, second)
    assert set(second.labels) == set(first.labels)
    assert second.keypoint_names == first.keypoint_names
    sofa = _by_name(second)["2011_000006.jpg"].objects[5]
    assert (sofa.label, len(sofa.polygons)) == ("sofa", 4)  # still one object
    boxes = _by_name(second)["boxes/2011_000025.jpg"].objects
    assert [o.kind for o in boxes] == ["rectangle"] * 3  # rectangles stay rectangles
    assert _digests(source) == before


def test_what_is_written_is_labelme_json_beside_the_image(tmp_path):
    data = _png(40, 30)
    labelset = LabelSet("test", tmp_path, images=[
        LabeledImage(PurePosixPath("train/cats/a.jpg"), 120, 100, "x", path=tmp_path / "a.jpg",
                     tags=("cat",), objects=(
                         LabeledObject("cat", "polygon", "x", polygons=(
                             np.array([[1.5, 1.25], [9, 1], [5, 9]]),
                             np.array([[20, 20], [30, 20], [25, 30.125]]))),
                         LabeledObject("bowl", "rectangle", "x", box=(3, 4, 50.5, 60)),
                         LabeledObject("tail", "polygon", "x",
                                       polygons=(np.array([[1, 1], [9, 1], [5, 9]]),)))),
        LabeledImage(PurePosixPath("b.png"), 40, 30, "y", image_data=data, tags=("dog",)),
    ])
    written = write_labelme_folder(labelset, tmp_path / "out")
    assert written == [tmp_path / "out/train/cats/a.json", tmp_path / "out/b.json"]
    first = json.loads(written[0].read_text())
    assert (first["imagePath"], first["imageData"], first["imageWidth"],
            first["imageHeight"]) == ("a.jpg", None, 120, 100)
    assert first["flags"] == {"cat": True, "dog": False}
    assert [(s["label"], s["shape_type"], s["group_id"]) for s in first["shapes"]] == [
        ("cat", "polygon", 0), ("cat", "polygon", 0), ("bowl", "rectangle", None),
        ("tail", "polygon", None)]
    assert first["shapes"][0]["points"] == [[1.5, 1.25], [9.0, 1.0], [5.0, 9.0]]
    assert first["shapes"][2]["points"] == [[3.0, 4.0], [50.5, 60.0]]
    second = json.loads(written[1].read_text())
    assert second["imagePath"] == "b.png" and base64.b64decode(second["imageData"]) == data
    assert second["flags"] == {"cat": False, "dog": True}


def test_a_polygon_with_a_hole_is_written_as_a_mask_shape_with_the_same_pixels(tmp_path):
    outline = np.array([[10, 10], [90, 10], [90, 90], [10, 90]], np.float64)
    hole = np.array([[30, 30], [60, 30], [60, 60], [30, 60]], np.float64)
    ring = LabeledObject("ring", "polygon", "x", polygons=(outline,), holes=(hole,))
    labelset = LabelSet("test", tmp_path, images=[
        LabeledImage(PurePosixPath("a.jpg"), 120, 100, "x", objects=(ring,))])
    (path,) = write_labelme_folder(labelset, tmp_path / "out")
    (shape,) = json.loads(path.read_text())["shapes"]
    assert (shape["shape_type"], shape["points"]) == ("mask", [[10.0, 10.0], [90.0, 90.0]])
    (tmp_path / "out" / "a.jpg").write_bytes(b"")
    (back,) = read_labelme_folder(tmp_path / "out").images[0].objects
    assert (back.kind, len(back.polygons), len(back.holes)) == ("mask", 1, 1)
    assert np.array_equal(fill_outlines(back.polygons, back.holes, 100, 120),
                          fill_outlines(ring.polygons, ring.holes, 100, 120))


def test_a_mask_reaching_past_the_image_is_cropped_to_it(tmp_path):
    outline = np.array([[-5, 90], [130, 90], [130, 120], [-5, 120]], np.float64)
    blob = LabeledObject("edge", "mask", "x", polygons=(outline,))
    labelset = LabelSet("test", tmp_path, images=[
        LabeledImage(PurePosixPath("a.jpg"), 120, 100, "x", objects=(blob,))])
    (path,) = write_labelme_folder(labelset, tmp_path / "out")
    (shape,) = json.loads(path.read_text())["shapes"]
    assert shape["points"] == [[0.0, 90.0], [119.0, 99.0]]
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"]))))
    assert crop.shape == (10, 120) and crop.all()


def test_pose_objects_are_a_rectangle_and_named_points_sharing_a_group(tmp_path):
    person = LabeledObject("person", "points", "x", box=(20.5, 10.25, 120, 140), keypoints=(
        Keypoint("nose", 70, 20), Keypoint("left_eye", 65.5, 18, OCCLUDED),
        Keypoint("right_eye", 0, 0, ABSENT)))
    unboxed = LabeledObject("person", "points", "x", keypoints=(Keypoint("knee", 5, 6),
                                                                 Keypoint("ankle", 7, 9)))
    lone = LabeledObject("tail", "points", "x", keypoints=(Keypoint("tail", 3, 4),))
    labelset = LabelSet("test", tmp_path, images=[LabeledImage(
        PurePosixPath("a.jpg"), 200, 150, "x", objects=(person, unboxed, lone))])
    (path,) = write_labelme_folder(labelset, tmp_path / "out")
    shapes = json.loads(path.read_text())["shapes"]
    assert [(s["label"], s["shape_type"], s["group_id"], s["points"]) for s in shapes] == [
        ("person", "rectangle", 0, [[20.5, 10.25], [120.0, 140.0]]),
        ("nose", "point", 0, [[70.0, 20.0]]),
        ("left_eye", "point", 0, [[65.5, 18.0]]),  # labelme has no "occluded"
        ("person", "rectangle", 1, [[5.0, 6.0], [7.0, 9.0]]),  # the class needs a shape
        ("knee", "point", 1, [[5.0, 6.0]]),
        ("ankle", "point", 1, [[7.0, 9.0]]),
        ("tail", "point", None, [[3.0, 4.0]])]


def test_two_images_that_would_share_a_label_file_are_refused_before_writing(tmp_path):
    images = [LabeledImage(PurePosixPath(n), 10, 10, "x") for n in ("a.jpg", "a.png")]
    with pytest.raises(DatasetError, match="a.jpg and a.png would share"):
        write_labelme_folder(LabelSet("test", tmp_path, images=images), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    outside = [LabeledImage(PurePosixPath("../a.jpg"), 10, 10, "x")]
    with pytest.raises(DatasetError, match="inside the output folder"):
        write_labelme_folder(LabelSet("test", tmp_path, images=outside), tmp_path / "out")


# -- any set we can write reads back ------------------------------------------------------------

pixels = st.floats(min_value=-50, max_value=700, allow_nan=False, allow_infinity=False)
labels = st.sampled_from(["cat", "dog", "big truck", "ñandú", "person"])
joints = st.sampled_from(["nose", "left_eye", "right_eye", "tail"])
triangles = st.lists(st.tuples(pixels, pixels), min_size=3, max_size=8).map(np.array).filter(
    lambda p: len(np.unique(p, axis=0)) == len(p) and not np.array_equal(p[0], p[-1]))
polygon_objects = st.builds(
    lambda label, rings: LabeledObject(label, "polygon", "x", polygons=tuple(rings)),
    labels, st.lists(triangles, min_size=1, max_size=3))
rectangle_objects = st.builds(
    lambda label, a, b, c, d: LabeledObject(label, "rectangle", "x",
                                            box=(min(a, c), min(b, d), max(a, c), max(b, d))),
    labels, pixels, pixels, pixels, pixels)
pose_objects = st.builds(
    lambda label, a, b, points: LabeledObject(
        label, "points", "x", box=(a, b, a + 10, b + 20),
        keypoints=tuple(Keypoint(n, x, y) for n, x, y in points)),
    labels, pixels, pixels, st.lists(st.tuples(joints, pixels, pixels), min_size=1, max_size=4))
unboxed_objects = st.lists(st.tuples(joints, pixels, pixels), min_size=1, max_size=4).map(
    lambda points: LabeledObject(
        points[0][0] if len({n for n, _, _ in points}) == 1 else UNBOXED_POINTS_LABEL,
        "points", "x", keypoints=tuple(Keypoint(n, x, y) for n, x, y in points)))


def _traced(grid: list[list[bool]], left: int, top: int) -> LabeledObject | None:
    """A mask object as a codec reads one: pixels traced (a 6x6 grid, each cell 3 px)."""
    from engine.formats.outlines import trace_outlines

    cells = np.kron(np.array(grid, np.uint8), np.ones((3, 3), np.uint8))
    polygons, holes = trace_outlines(cells, offset=(left, top))
    return LabeledObject("blob", "mask", "x", polygons=polygons, holes=holes) if polygons \
        else None


grids = st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=6, max_size=6)
mask_objects = st.builds(_traced, grids, st.integers(0, 600), st.integers(0, 440)).filter(
    lambda o: o is not None)
sets = st.lists(st.lists(polygon_objects | rectangle_objects | pose_objects | unboxed_objects
                         | mask_objects, max_size=5), min_size=1, max_size=3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets)
def test_any_set_of_supported_shapes_round_trips_within_1e_6(tmp_path_factory, image_objects):
    folder = tmp_path_factory.mktemp("round")
    images = [LabeledImage(PurePosixPath(f"img{n}.jpg"), 640, 480, "x", objects=tuple(objects))
              for n, objects in enumerate(image_objects)]
    first = LabelSet("test", folder, images=images)
    write_labelme_folder(first, folder)
    for image in images:
        (folder / image.name).write_bytes(b"")
    second = read_labelme_folder(folder)
    assert not second.problems
    _assert_same_objects(first, second)
