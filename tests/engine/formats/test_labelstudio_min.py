"""Label Studio's JSON-MIN export: told apart from a task list, its records turned into tasks
that read the same regions as the JSON export, and any JSON-MIN-like content read or refused
with one clear error."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import DatasetError
from engine.formats.labelstudio import read_labelstudio

from .test_labelstudio import (
    FIXTURES,
    JSON_VALUES,
    MIXED,
    TWO_ANNOTATIONS,
    blank_image,
    close,
    fixture,
    reasons,
    write,
)


def json_min(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON-MIN records Label Studio writes for ``tasks`` (label_studio_converter's
    convert_to_json_min: the task's data, then per control tag its region values with their
    type removed and the original size added, then the annotation's own fields)."""
    records = []
    for task in tasks:
        for annotation in task["annotations"]:
            record = {**task["data"], "id": task["id"]}
            for result in annotation["result"]:
                if "from_name" not in result:
                    continue
                value = {**result["value"], "original_width": result["original_width"],
                         "original_height": result["original_height"]}
                record.setdefault(result["from_name"], []).append(value)
            record.update(annotator=1, annotation_id=annotation["id"],
                          created_at=annotation["created_at"],
                          updated_at=annotation["updated_at"], lead_time=1.0)
            records.append(record)
    return records


def test_a_json_min_export_reads_the_same_regions(tmp_path):
    full = read_labelstudio(FIXTURES / MIXED)
    labelset = read_labelstudio(write(tmp_path, json_min(fixture(MIXED))))
    (image,) = labelset.images
    assert [(o.label, o.kind) for o in image.objects] == [
        (o.label, o.kind) for o in full.images[0].objects]
    for mine, theirs in zip(image.objects, full.images[0].objects, strict=True):
        assert mine.box == theirs.box
        assert all(np.array_equal(a, b) for a, b in zip(mine.polygons, theirs.polygons,
                                                        strict=True))
        assert mine.keypoints == theirs.keypoints
    assert any("JSON-MIN" in line for line in reasons(labelset, "warning"))


def test_json_min_records_of_one_task_keep_the_latest_annotation(tmp_path):
    labelset = read_labelstudio(write(tmp_path, json_min(fixture(TWO_ANNOTATIONS))))
    first, second = labelset.images
    assert [o.box[0] for o in first.objects] == pytest.approx(
        [37.88706739526412 * 28, 49.18032786885246 * 28])
    assert len(second.objects) == 2


def test_a_task_list_for_import_is_not_an_export(tmp_path):
    with pytest.raises(DatasetError, match="its first item has the keys id, image"):
        read_labelstudio(write(tmp_path, [{"id": 1, "image": "/data/upload/1/a.jpg"}]))


def test_the_json_min_example_of_label_studios_guide_reads(tmp_path):
    # docs/source/guide/export.md of HumanSignal/label-studio (Apache-2.0), "JSON_MIN": no
    # annotation fields and no original size, so the image file gives the size
    record = {"image": "https://htx-misc.s3.amazonaws.com/opensource/label-studio/examples/"
                       "images/nick-owuor-astro-nic-visuals-wDifg5xc9Z4-unsplash.jpg",
              "tag": [{"height": 10.458911419423693, "rectanglelabels": ["Moonwalker"],
                       "rotation": 0, "width": 12.4, "x": 50.8, "y": 5.869797225186766}]}
    export = write(tmp_path, [record])
    missing = read_labelstudio(export)
    assert missing.images[0].objects == ()
    assert any("size is unknown" in line for line in reasons(missing, "error"))
    blank_image(tmp_path / "nick-owuor-astro-nic-visuals-wDifg5xc9Z4-unsplash.jpg", 500, 300)
    (image,) = read_labelstudio(export).images
    (moonwalker,) = image.objects
    assert (moonwalker.label, moonwalker.kind, moonwalker.where) == (
        "Moonwalker", "rectangle", "task 0, result 'tag[0]'")
    assert close(moonwalker.box, [254, 5.869797225186766 * 3, 254 + 62,
                                  (5.869797225186766 + 10.458911419423693) * 3], 500)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(JSON_VALUES, min_size=1, max_size=4))
def test_any_json_min_like_records_give_problems_or_one_error(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("fuzz") / "export.json"
    path.write_text(json.dumps([{"image": "a.jpg", "annotation_id": 1, "tag": records},
                                *records]), encoding="utf-8")
    try:
        labelset = read_labelstudio(path)
    except DatasetError as exc:  # only for a file that is no export at all
        assert "not a Label Studio export" in str(exc)
    else:
        assert labelset.images or labelset.problems
