"""Image statuses for the Annotate page (issue 17): one query gives each image's file name,
labels, drafts, review and background mark; go-to and "next unlabelled" work on them."""

from __future__ import annotations

from studio.services.annotations import trash_annotations, trash_images
from studio.services.image_status import (
    BACKGROUND,
    DRAFTS,
    LABELLED,
    UNLABELLED,
    ImageStatus,
    image_statuses,
)
from studio.state import Annotation, Image
from studio.ui.annotate.navigation import find_image, next_needing_labels

SQUARE = [0.1, 0.1, 0.3, 0.1, 0.3, 0.3]


def add_images(project, count: int) -> list[int]:
    with project.database.session() as session:
        rows = [Image(path=f"/data/cam\\day/img_{i}.jpg" if i == 2 else f"/data/img_{i}.jpg",
                      width=10, height=10) for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def test_statuses_count_labels_drafts_and_marks(make_project):
    project = make_project("segment")
    ids = add_images(project, 6)
    with project.database.session() as session:
        session.add_all([
            Annotation(image_id=ids[1], kind="polygon", class_index=0, polygon=SQUARE),
            Annotation(image_id=ids[1], kind="polygon", class_index=1, polygon=SQUARE),
            Annotation(image_id=ids[1], kind="polygon", class_index=1, polygon=SQUARE,
                       draft=True),
            Annotation(image_id=ids[3], kind="polygon", class_index=0, polygon=SQUARE,
                       draft=True),
            Annotation(image_id=ids[4], kind="polygon", class_index=0, polygon=SQUARE),
        ])
        session.get(Image, ids[2]).background = True
        session.get(Image, ids[0]).reviewed = True
    with project.database.session() as session:
        trashed = session.query(Annotation).filter_by(image_id=ids[4]).one().id
    trash_annotations(project.database, [trashed])  # its only label is in the trash
    trash_images(project.database, [ids[5]])
    statuses = image_statuses(project.database)
    assert [s.id for s in statuses] == ids[:5]
    assert [s.state for s in statuses] == [UNLABELLED, LABELLED, BACKGROUND, DRAFTS,
                                           UNLABELLED]
    assert (statuses[1].labels, statuses[1].drafts) == (2, 1)
    assert statuses[2].file_name == "img_2.jpg"  # a Windows-style folder is cut off too
    assert statuses[0].reviewed and not statuses[1].reviewed


def statuses(*states: str) -> list[ImageStatus]:
    made = []
    for index, state in enumerate(states):
        made.append(ImageStatus(10 + index, f"frame_{index:03d}.PNG",
                                labels=int(state == LABELLED), drafts=int(state == DRAFTS),
                                background=state == BACKGROUND))
    return made


def test_go_to_takes_a_number_or_a_file_name():
    found = statuses(*[UNLABELLED] * 12)
    assert find_image("3", found) == 12  # the third in the list
    assert find_image(" 12 ", found) == 21
    assert find_image("13", found) is None and find_image("0", found) is None
    assert find_image("frame_011.png", found) == 21  # whole name, any case
    assert find_image("FRAME_004", found) == 14  # without its extension
    assert find_image("frame_00", found) == 10  # the start of a name: the first one
    assert find_image("e_007", found) == 17  # anywhere in a name
    assert find_image("zebra", found) is None and find_image("", found) is None


def test_next_needing_labels_skips_labelled_and_background_and_goes_round():
    found = statuses(UNLABELLED, LABELLED, BACKGROUND, DRAFTS, LABELLED)
    assert next_needing_labels(found, 10) == 13  # drafts are not labels yet
    assert next_needing_labels(found, 13) == 10  # round to the start
    assert next_needing_labels(found, None) == 10
    assert next_needing_labels(statuses(LABELLED, UNLABELLED), 11) == 11  # only itself
    assert next_needing_labels(statuses(LABELLED, BACKGROUND), 10) is None
