"""Tools → Segment Anything models…: the models folder (with "Open folder"), each pair found
there with its state (ready, or the problem in one sentence), and the published pairs with a
Download button each. Nothing is bundled; the dialog says where pairs come from.

Checking the folder parses ONNX graphs, so it runs on a worker; a download runs as a Job (the
jobs indicator shows it too) through ``engine.assist.sam_models.download_sam``: progress,
cancel, checks and an atomic write, and nothing left behind when it fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.assist.sam_models import SAM_DOWNLOADS, SamDownload, find_models, models_folder

from ..workers.job import Job, JobManager, JobProgress
from .datasets.background import BackgroundCalls

INTRO = ("Segment Anything (the AI tool, I, on the Annotate page of a segment project) needs an "
         "image encoder and a mask decoder as ONNX files. Nothing is bundled: no package ships "
         "the weights. Download a published pair below, or put a pair exported by samexporter "
         "or published with X-AnyLabeling (MobileSAM, SAM 2.1 tiny or small: "
         "<name>.encoder.onnx and <name>.decoder.onnx) in this folder.")
SOURCES = ("Where to get pairs: huggingface.co/vietanhdev/segment-anything-onnx-models (the "
           "MobileSAM zip) and github.com/CVHub520/X-AnyLabeling/releases (the SAM 2.1 files), "
           "the files the Download buttons fetch; or export your own with "
           "github.com/vietanhdev/samexporter.")
IN_USE = "ready · the AI tool uses it"


class SamModelsDialog(QDialog):
    """The models folder, its pairs and their states, and a Download button per published
    pair. ``downloads`` replaces the published catalogue (a mirror, or a test's server).
    ``modelChosen(name)``: the user chose the pair the AI tool uses (double-click or "Use")."""

    modelChosen = Signal(str)

    def __init__(self, jobs: JobManager, parent: QWidget | None = None, *,
                 folder: Path | None = None,
                 downloads: Mapping[str, SamDownload] | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Segment Anything models")
        self.jobs = jobs
        self.folder = folder or models_folder()
        self.downloads = dict(SAM_DOWNLOADS if downloads is None else downloads)
        self.job: Job | None = None
        self.calls = BackgroundCalls("sam-models", 1, self)
        self.download_buttons: dict[str, QPushButton] = {}
        self._build()
        self.refresh()

    # -- building -----------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        row = QHBoxLayout()
        row.addWidget(QLabel("Models folder:"))
        self.path_edit = QLineEdit(str(self.folder))
        self.path_edit.setReadOnly(True)
        row.addWidget(self.path_edit, 1)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self.open_folder)
        row.addWidget(self.open_button)
        layout.addLayout(row)
        installed = QGroupBox("Installed")
        inner = QVBoxLayout(installed)
        self.models = QTreeWidget()
        self.models.setHeaderLabels(["Model", "State"])
        self.models.setRootIsDecorated(False)
        self.models.setWordWrap(True)
        self.models.setColumnWidth(0, 180)
        self.models.itemActivated.connect(lambda _item, _column: self.use_selected())
        self.models.itemSelectionChanged.connect(self._update_use_button)
        inner.addWidget(self.models)
        self.use_button = QPushButton("Use for the AI tool")
        self.use_button.setToolTip("The AI tool (I) on the Annotate page uses the selected "
                                   "ready pair (or double-click it)")
        self.use_button.clicked.connect(self.use_selected)
        inner.addWidget(self.use_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        inner.addWidget(self.empty_label)
        layout.addWidget(installed, 1)
        layout.addWidget(self._download_box())
        sources = QLabel(SOURCES)
        sources.setWordWrap(True)
        sources.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(sources)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(680, 520)

    def _download_box(self) -> QGroupBox:
        box = QGroupBox("Download (needs the internet)")
        grid = QGridLayout(box)
        for row, (name, spec) in enumerate(self.downloads.items()):
            check = "SHA-256 checked" if spec.verified else "no published checksum"
            grid.addWidget(QLabel(f"{spec.title} (about {spec.megabytes} MB, {check})"), row, 0)
            button = QPushButton("Download")
            button.setToolTip("\n".join([*spec.urls, f"into {self.folder}"]))
            button.clicked.connect(lambda _=False, n=name: self.download(n))
            grid.addWidget(button, row, 1)
            self.download_buttons[name] = button
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.download_status = QLabel()
        self.download_status.setWordWrap(True)
        self.download_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        last = len(self.downloads)
        grid.addWidget(self.progress, last, 0)
        grid.addWidget(self.cancel_button, last, 1)
        grid.addWidget(self.download_status, last + 1, 0, 1, 2)
        return box

    # -- the folder -----------------------------------------------------------------------------
    def open_folder(self) -> None:
        """Show the models folder in the file manager (made first: it is ours to make)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))

    def refresh(self) -> None:
        """Check the folder's pairs again, on the worker."""
        folder = self.folder
        self.empty_label.setText("Checking the folder…")
        self.calls.call(lambda: find_models(folder), self._show_models,
                        lambda message, _d: self.empty_label.setText(message))

    def _show_models(self, models: list[Any]) -> None:
        self.models.clear()
        in_use = self._in_use(models)
        for model in models:
            state = (IN_USE if model.name == in_use else "ready") if model.ready else model.problem
            item = QTreeWidgetItem([model.name, state])
            item.setToolTip(1, item.text(1))
            item.setData(0, Qt.ItemDataRole.UserRole, model.ready)
            self.models.addTopLevelItem(item)
        self._update_use_button()
        self.models.setVisible(bool(models))
        ready = [model for model in models if model.ready]
        if not models:
            self.empty_label.setText(f"No model installed in {self.folder}. Download a pair "
                                     "below, or put an encoder/decoder pair there; the AI tool "
                                     "stays off until then.")
        elif not ready:
            self.empty_label.setText("No pair is ready: each one's problem is listed above; "
                                     "replace the file it names.")
        else:
            self.empty_label.setText(
                f"Ready: {', '.join(m.name for m in ready)}. The AI tool (I) on the Annotate "
                f"page uses {in_use}" + (" (select another and press Use to change it)."
                                         if len(ready) > 1 else "."))

    @staticmethod
    def _in_use(models: list[Any]) -> str | None:
        """The pair the AI tool uses: the one chosen, while it is ready, else the first."""
        from .app_settings import chosen_sam_model

        ready = [model.name for model in models if model.ready]
        chosen = chosen_sam_model()
        return chosen if chosen in ready else next(iter(ready), None)

    def use_selected(self) -> None:
        """Make the selected ready pair the AI tool's."""
        from .app_settings import choose_sam_model

        item = self.models.currentItem()
        if item is None or not item.data(0, Qt.ItemDataRole.UserRole):
            return
        choose_sam_model(item.text(0))
        for row in range(self.models.topLevelItemCount()):
            other = self.models.topLevelItem(row)
            if other.data(0, Qt.ItemDataRole.UserRole):
                other.setText(1, IN_USE if other is item else "ready")
        self.empty_label.setText(f"The AI tool (I) on the Annotate page now uses {item.text(0)}.")
        self._update_use_button()
        self.modelChosen.emit(item.text(0))

    def _update_use_button(self) -> None:
        item = self.models.currentItem()
        self.use_button.setEnabled(bool(item is not None and item.data(0, Qt.ItemDataRole.UserRole)
                                        and item.text(1) != IN_USE))

    # -- downloading ----------------------------------------------------------------------------
    def download(self, name: str) -> None:
        """Fetch the published pair ``name`` on a Job (one at a time)."""
        if self.job is not None:
            return
        from engine.assist.sam_models import download_sam
        from engine.events import DownloadProgress

        folder, downloads, spec = self.folder, self.downloads, self.downloads[name]

        def work(progress, cancel):
            def report(event: Any) -> None:
                if isinstance(event, DownloadProgress):
                    text = f"{Path(event.url).name}: {event.done / 1e6:.1f} MB"
                    progress(event.done, event.total or 0, text)

            folder.mkdir(parents=True, exist_ok=True)
            return download_sam(name, folder, report, cancel, downloads=downloads)

        job = self.jobs.start(f"Downloading {spec.title}", work)
        self.job = job
        for button in self.download_buttons.values():
            button.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.download_status.setText(f"Downloading {spec.title}…")
        job.progress.connect(self._progressed)
        job.finished.connect(lambda model: self._downloaded(spec, model))
        job.failed.connect(lambda message, _d: self._download_failed(spec, message))
        job.cancelled.connect(lambda: self.download_status.setText(
            f"Download of {spec.title} cancelled; nothing was kept"))
        job.ended.connect(self._download_ended)

    def cancel_download(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progressed(self, progress: JobProgress) -> None:
        if progress.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * progress.done / progress.total))
        self.download_status.setText(f"Downloading {progress.text}")

    def _downloaded(self, spec: SamDownload, model: Any) -> None:
        check = ("its SHA-256 matched the published one" if spec.verified else
                 "not verified: no checksum is published for it, so only that each file is "
                 "the right ONNX half was checked")
        self.download_status.setText(
            f"{spec.title} is installed in {self.folder} and ready ({check})")

    def _download_failed(self, spec: SamDownload, message: str) -> None:
        # the engine's message names the URL when it already says where the files come from
        # (its offline advice, "downloaded from …"): the manual steps again would repeat it
        if any(url in message for url in spec.urls):
            self.download_status.setText(message)
        else:
            self.download_status.setText(
                f"{message}. Without the internet: {manual_steps(spec, self.folder)}")

    def _download_ended(self) -> None:
        self.job = None
        for button in self.download_buttons.values():
            button.setEnabled(True)
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.refresh()


def manual_steps(spec: SamDownload, folder: Path) -> str:
    """How to install ``spec`` by hand, from another computer."""
    names = f"{spec.encoder.file_name} and {spec.decoder.file_name}"
    if spec.archive is not None:
        return (f"download {spec.archive.url} on another computer, unzip it, and put "
                f"{names} in {folder}.")
    return f"download {' and '.join(spec.urls)} on another computer and put both in {folder}."
