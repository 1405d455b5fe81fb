"""The annotations of the image on the canvas, as a list the undo commands change."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ...services.annotations import AnnotationData, ImageInfo


class ImageDocument(QObject):
    """One image's annotations. ``changed`` after every edit (autosave listens);
    ``instanceChanged(key)`` when one instance changed in place; ``structureChanged`` when
    instances were added, removed or reordered."""

    changed = Signal()
    instanceChanged = Signal(str)
    structureChanged = Signal()

    def __init__(self, image: ImageInfo, annotations: list[AnnotationData],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.image = image
        self.annotations: list[AnnotationData] = list(annotations)
        self.known_ids: set[int] = {a.id for a in annotations if a.id is not None}
        self._saved_keys: dict[int, str] = {}  # row id -> key, for instances drawn here

    def keys(self) -> list[str]:
        return [a.key for a in self.annotations]

    def index_of(self, key: str) -> int:
        for index, annotation in enumerate(self.annotations):
            if annotation.key == key:
                return index
        raise KeyError(key)

    def get(self, key: str) -> AnnotationData | None:
        for annotation in self.annotations:
            if annotation.key == key:
                return annotation
        return None

    def insert(self, index: int, annotation: AnnotationData) -> None:
        self.annotations.insert(index, annotation)
        if annotation.id is not None:
            self.known_ids.add(annotation.id)
        self.structureChanged.emit()
        self.changed.emit()

    def remove(self, key: str) -> tuple[int, AnnotationData]:
        index = self.index_of(key)
        annotation = self.annotations.pop(index)
        self.structureChanged.emit()
        self.changed.emit()
        return index, annotation

    def replace(self, annotation: AnnotationData) -> None:
        self.annotations[self.index_of(annotation.key)] = annotation
        self.instanceChanged.emit(annotation.key)
        self.changed.emit()

    def learn_ids(self, assigned: dict[str, int]) -> None:
        """Remember the rows the autosave made (not an edit: nothing is emitted)."""
        self.known_ids.update(assigned.values())
        self._saved_keys.update({row: key for key, row in assigned.items()})

    def key_of(self, annotation_id: int) -> str | None:
        """The key of the instance stored as row ``annotation_id``, also for one drawn here
        (its data has no id; the autosave told which row it became); None if not shown."""
        for annotation in self.annotations:
            if annotation.id == annotation_id:
                return annotation.key
        key = self._saved_keys.get(annotation_id)
        return key if key is not None and self.get(key) is not None else None
