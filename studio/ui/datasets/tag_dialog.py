"""The tag editor for the selected images: the tags they have (ticked when every image has
it, half-ticked when some do; untick to remove) and a field to add new ones."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...services.image_edits import parse_tags


class TagDialog(QDialog):
    """``current``: ``{tag: how many of the images have it}``; ``known``: the project's tags
    (offered while typing). After ``exec``, ``changes()`` gives the tags to add and remove."""

    def __init__(self, current: dict[str, int], images: int, known: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Tags")
        self._current = current
        self._images = images
        heading = QLabel(f"Tags of the {images:,} selected image{'s' if images != 1 else ''}"
                         if images != 1 else "Tags of the selected image")
        self.list = QListWidget()
        for tag, count in current.items():
            item = QListWidgetItem(tag if count == images else f"{tag}  ({count:,} of {images:,})")
            item.setData(Qt.ItemDataRole.UserRole, tag)
            flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
            if count != images:  # a click cycles through "some" again
                flags |= Qt.ItemFlag.ItemIsUserTristate
            item.setFlags(flags)
            item.setCheckState(Qt.CheckState.Checked if count == images
                               else Qt.CheckState.PartiallyChecked)
            self.list.addItem(item)
        self.list.setVisible(bool(current))
        self.list.setToolTip("Untick a tag to take it off the images")
        self.new_tags = QLineEdit()
        self.new_tags.setPlaceholderText("Add tags, separated by commas (e.g. night, rain)")
        completer = QCompleter(known, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.new_tags.setCompleter(completer)
        self.error = QLabel(" ")  # keeps its line: the layout does not move when it shows
        self.error.setStyleSheet("color: #d55e00")
        self.error.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.new_tags.textChanged.connect(lambda _text: self._check())
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.list)
        layout.addWidget(self.new_tags)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.resize(380, 300 if current else 160)

    def _check(self) -> bool:
        try:
            parse_tags(self.new_tags.text())
        except ValueError as exc:
            self.error.setText(str(exc).capitalize())
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
            return False
        self.error.setText(" ")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        return True

    def accept(self) -> None:
        if self._check():
            super().accept()

    def changes(self) -> tuple[list[str], list[str]]:
        """``(tags to add to every image, tags to remove from every image)``."""
        add = parse_tags(self.new_tags.text())
        remove: list[str] = []
        for row in range(self.list.count()):
            item = self.list.item(row)
            tag = item.data(Qt.ItemDataRole.UserRole)
            state = item.checkState()
            if state == Qt.CheckState.Unchecked:
                remove.append(tag)
            elif state == Qt.CheckState.Checked and self._current.get(tag) != self._images:
                add.append(tag)  # a half-ticked tag ticked fully: give it to every image
        return [tag for tag in dict.fromkeys(add) if tag not in remove], remove
