"""The usage snippets of one export, shown before they are copied: one read-only, monospace tab
per snippet (the ``yolo`` commands, Python with the engine, the plain-runtime script), with
buttons that copy the tab shown or everything."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...services.usage_snippets import PLACEHOLDER_IMAGE, Snippet, snippets_text


class SnippetDialog(QDialog):
    """``SnippetDialog(name, path, snippets, image, parent)``; Copy puts the shown tab on the
    clipboard, Copy all every tab (each under a title comment)."""

    def __init__(self, name: str, path: Path, snippets: list[Snippet], image: Path | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Use the {name} export")
        self.snippets = snippets
        self.resize(860, 620)
        where = QLabel(self._intro(name, path, snippets, image))
        where.setWordWrap(True)
        where.setTextInteractionFlags(where.textInteractionFlags()
                                      | where.textInteractionFlags().TextSelectableByMouse)
        self.tabs = QTabWidget()
        self.views: list[QPlainTextEdit] = []
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        for snippet in snippets:
            view = QPlainTextEdit(snippet.text)
            view.setReadOnly(True)
            view.setFont(font)
            view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            self.views.append(view)
            self.tabs.addTab(view, snippet.title)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the snippet of the tab shown")
        self.copy_button.clicked.connect(self.copy_current)
        self.copy_all_button = QPushButton("Copy all")
        self.copy_all_button.setToolTip("Copy every tab, each under a comment with its title")
        self.copy_all_button.clicked.connect(self.copy_all)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.copy_all_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        # Enter copies what is shown (the other buttons never take the default)
        for button in (buttons.button(QDialogButtonBox.StandardButton.Close),
                       self.copy_all_button):
            button.setAutoDefault(False)
        self.copy_button.setDefault(True)
        self.tabs.currentChanged.connect(lambda index: self.views[index].setFocus())
        self.note = QLabel("")
        layout = QVBoxLayout(self)
        layout.addWidget(where)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        if self.views:
            self.views[0].setFocus()

    @staticmethod
    def _intro(name: str, path: Path, snippets: list[Snippet], image: Path | None) -> str:
        runs_on = (f"on {image}" if image is not None
                   else f"on {PLACEHOLDER_IMAGE} (replace it with an image of yours)")
        plain = [s.title for s in snippets if s.title.endswith("(no engine)")]
        alone = (f" The {plain[0].removesuffix(' (no engine)')} script needs only that "
                 "runtime, OpenCV and NumPy." if plain else "")
        return f"The {name} export is {path}. The examples run {runs_on}.{alone}"

    def current_text(self) -> str:
        """The snippet of the tab shown."""
        return self.snippets[self.tabs.currentIndex()].text

    def copy_current(self) -> None:
        QGuiApplication.clipboard().setText(self.current_text())
        self.note.setText(f"{self.tabs.tabText(self.tabs.currentIndex())} copied to the "
                          "clipboard.")

    def copy_all(self) -> None:
        QGuiApplication.clipboard().setText(snippets_text(self.snippets))
        self.note.setText("Every snippet copied to the clipboard.")
