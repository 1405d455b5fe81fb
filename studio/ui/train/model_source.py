"""The Train page's choice of starting weights: official YOLOv8 weights (downloaded here with
progress and Cancel when missing), the studio's demo weights, earlier runs, a file, or from
scratch. Listing, checking a chosen file and downloading run on worker threads; the window never
waits. Offline, one message says which file, where to get it and where to put it, with a
"Choose file…" button beside it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...services.projects import Project
from ...services.starting_weights import (
    BUNDLED_FOLDER,
    Candidate,
    DownloadResult,
    WeightsCheck,
    arrange,
    bundled_candidates,
    check_weights_file,
    combine,
    default_candidate,
    download_official,
    file_candidates,
    remember_choice,
    remember_file,
    remembered_choice,
    remembered_files,
    run_candidates,
    shipped_weights,
    transfer_note,
)
from ...workers.job import Job, JobManager, JobProgress
from ..file_dialogs import start_folder

ERROR_STYLE = "color: #d55e00;"
NOTE_STYLE = "color: palette(placeholder-text);"
GROUPS = {"official": "Official YOLOv8 weights", "bundled": "Studio weights",
          "run": "Runs of this project", "file": "Files you chose",
          "scratch": "No pretrained weights"}
_CANDIDATE_ROLE = Qt.ItemDataRole.UserRole + 1


class ModelSource(QWidget):
    """Where a new run starts from. ``model()`` is a checkpoint path or a yaml name (None until
    usable); ``error()`` says why not (empty when it is); ``changed`` follows every change.

    ``jobs``: the window's JobManager, so that a download shows in the jobs indicator (a
    private one otherwise). ``bundled_folder``: where the studio's own weights ship.
    """

    changed = Signal()

    def __init__(self, project: Project, parent: QWidget | None = None, *,
                 jobs: JobManager | None = None,
                 bundled_folder: Path = BUNDLED_FOLDER) -> None:
        super().__init__(parent)
        self.project, self.task = project, project.task
        self.class_names = tuple(info.name for info in project.classes())
        self.jobs = jobs or JobManager(self)
        self.bundled_folder = bundled_folder
        self.scale = "n"
        self.bundled: list[Candidate] | None = None  # None while the shipped file is read
        self.local: list[Candidate] = []  # runs and chosen files
        self.candidates: list[Candidate] = []
        self.rejected = ""  # why the file chosen last was refused
        self.offline = ""  # the offline message of the last download
        self.checking: Path | None = None
        self.download_job: Job | None = None
        self._chosen = remembered_choice(project)
        self._user_chose = False
        self._build()
        self.refresh()

    # -- layout ----------------------------------------------------------------------------------
    def _build(self) -> None:
        # stacked, not side by side: the dock is narrow and every line must wrap inside it
        self.combo = QComboBox()
        self.combo.setObjectName("model_source_combo")
        self.combo.setModel(QStandardItemModel(self.combo))
        self.combo.setToolTip("The weights a new run starts from")
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.combo.setMinimumContentsLength(12)
        self.combo.activated.connect(self._picked)
        self.note = self._label(NOTE_STYLE)
        self.choose_button = QPushButton("Choose file…")
        self.choose_button.setToolTip("Start from a .pt checkpoint on this computer")
        self.choose_button.clicked.connect(self.choose_file)
        self.download_button = QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.choose_button)
        actions.addWidget(self.download_button)
        actions.addStretch(1)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the download; nothing is kept")
        self.cancel_button.clicked.connect(self.cancel_download)
        self.download_row = QWidget()
        download_row = QHBoxLayout(self.download_row)
        download_row.setContentsMargins(0, 0, 0, 0)
        download_row.addWidget(self.progress, 1)
        download_row.addWidget(self.cancel_button)
        self.status = self._label(NOTE_STYLE)
        self.message = self._label(ERROR_STYLE)
        self.message.setObjectName("model_source_message")
        self.message_choose = QPushButton("Choose file…")
        self.message_choose.setToolTip("Use a copy of the weights you downloaded elsewhere")
        self.message_choose.clicked.connect(self.choose_file)
        self.message_panel = QWidget()
        message_column = QVBoxLayout(self.message_panel)
        message_column.setContentsMargins(0, 0, 0, 0)
        message_column.addWidget(self.message)
        message_column.addWidget(self.message_choose, 0, Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.combo)
        layout.addWidget(self.note)
        layout.addLayout(actions)
        for part in (self.download_row, self.status, self.message_panel):
            layout.addWidget(part)

    @staticmethod
    def _label(style: str) -> QLabel:
        label = QLabel()
        label.setWordWrap(True)
        label.setStyleSheet(style)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.hide()
        return label

    # -- public ----------------------------------------------------------------------------------
    def set_scale(self, scale: str) -> None:
        """Offer the official weights and the new model of ``scale`` (n, s, m, l or x)."""
        if scale != self.scale:
            self.scale, self.offline = scale, ""  # the message named the other scale's file
            self._populate()

    def refresh(self) -> None:
        """List runs and chosen files again (a query and a few stats, as the run list does),
        and read the shipped weights on a worker thread (a checkpoint read: slow)."""
        self.local = run_candidates(self.project) + file_candidates(self.project)
        task, folder = self.task, self.bundled_folder
        if shipped_weights(task, folder) is None:
            self.bundled = []
        else:
            self._quietly("Reading the studio's weights",
                          lambda _p, _c: bundled_candidates(task, folder), self._listed)
        self._populate()

    def listing(self) -> bool:
        """True until the first listing has arrived."""
        return self.bundled is None

    def current(self) -> Candidate | None:
        index = self.combo.currentData(_CANDIDATE_ROLE)
        return self.candidates[index] if isinstance(index, int) else None

    def model(self) -> str | None:
        """The checkpoint path or model yaml a run gets; None while nothing usable is chosen."""
        candidate = self.current()
        return candidate.model if candidate is not None and candidate.present else None

    def error(self) -> str:
        """Why Start cannot use the choice now; empty when it can."""
        candidate = self.current()
        if self.rejected:
            return self.rejected
        if self.checking is not None:
            return f"checking {self.checking.name}…"
        if self.listing() and not self._user_chose:  # the default may be pretrained weights
            return "looking for starting weights…"
        if candidate is None:
            return "choose a model"
        if not candidate.present:
            name = Path(candidate.model).name
            if self.download_job is not None:
                return f"downloading {name}…"
            if self.offline:  # the whole message (where from, where to) is shown under the list
                return f"{name} could not be downloaded; choose the file or other weights"
            return f"{name} is not downloaded yet: click Download, or choose other weights"
        if candidate.path is not None and not candidate.path.is_file():
            return f"{candidate.path.name} is not there any more; choose other starting weights"
        return ""

    # -- the list --------------------------------------------------------------------------------
    def _listed(self, bundled: list[Candidate]) -> None:
        self.bundled = list(bundled)
        self._populate()

    def _populate(self) -> None:
        """Fill the combo for the scale, keeping the user's pick (or the same kind of pick)."""
        before = self.current()
        self.candidates = arrange(self.task, self.scale, combine(self.bundled or [], self.local))
        if self._user_chose and before is not None:
            wanted = self._matching(before)
        else:
            wanted = default_candidate(self.candidates, self.class_names, self._chosen)
        model = self.combo.model()
        self.combo.blockSignals(True)
        model.clear()
        kind = None
        for index, candidate in enumerate(self.candidates):
            if candidate.kind != kind:
                kind = candidate.kind
                model.appendRow(_header(GROUPS[kind]))
            item = QStandardItem(candidate.label)
            item.setData(index, _CANDIDATE_ROLE)
            item.setToolTip(candidate.detail)
            model.appendRow(item)
            if candidate is wanted:
                self.combo.setCurrentIndex(model.rowCount() - 1)
        if self.listing():
            model.appendRow(_header("Looking for more weights…"))
        self.combo.blockSignals(False)
        self._show()

    def _matching(self, before: Candidate) -> Candidate:
        """``before`` in the new list: the same file, else its official or new-model
        counterpart at the new scale, else the default (never another run's file)."""
        scaled = before.kind in ("official", "scratch")
        for rule in (lambda c: c.model == before.model, lambda c: scaled and c.kind == before.kind):
            match = next((c for c in self.candidates if rule(c)), None)
            if match is not None:
                return match
        return default_candidate(self.candidates, self.class_names)

    def _picked(self, _row: int) -> None:
        """The user picked an entry (mouse or keys): remembered as the project's choice."""
        candidate = self.current()
        self._user_chose = True
        self.rejected = ""
        if candidate is not None and candidate.present:
            self._chosen = candidate.model
            remember_choice(self.project, candidate.model)
        self._show()

    def _select(self, model: str) -> None:
        for row in range(self.combo.count()):
            index = self.combo.itemData(row, _CANDIDATE_ROLE)
            if isinstance(index, int) and self.candidates[index].model == model:
                self.combo.setCurrentIndex(row)
                return

    # -- what is shown under the combo -------------------------------------------------------------
    def _show(self) -> None:
        candidate = self.current()
        if candidate is not None:
            self.combo.setToolTip(candidate.detail)
            self.note.setText(transfer_note(candidate, self.task, self.class_names))
        self.note.setVisible(candidate is not None)
        missing = candidate is not None and not candidate.present
        downloading = self.download_job is not None
        self.download_row.setVisible(downloading)
        self.download_button.setVisible(missing and not downloading)
        self.progress.setVisible(downloading)
        self.cancel_button.setVisible(downloading)
        if missing and not downloading:
            self.download_button.setToolTip(f"Download {Path(candidate.model).name} from "
                                            f"{candidate.url} into {candidate.path.parent}")
        problem = self.rejected or (self.offline if missing else "")
        self.message.setText(problem)
        self.message.setVisible(bool(problem))
        offline_shown = bool(self.offline) and missing and not self.rejected
        self.message_choose.setVisible(offline_shown)
        self.choose_button.setVisible(not offline_shown)  # one "Choose file…" at a time
        self.download_button.setText("Try again" if self.offline else "Download")
        self.message_panel.setVisible(bool(problem))
        self.changed.emit()

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    # -- a file ----------------------------------------------------------------------------------
    def choose_file(self) -> None:
        """Ask for a .pt file, then check it on a worker thread before offering it."""
        recent = remembered_files(self.project)
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose starting weights",
            start_folder(self.project.folder, recent[0] if recent else None),
            "PyTorch checkpoints (*.pt);;All files (*)")
        if not path:
            return
        self.checking, self.rejected = Path(path), ""
        self._set_status(f"Checking {Path(path).name}…")
        task = self.task
        self._quietly(f"Checking {Path(path).name}",
                      lambda _p, _c: check_weights_file(path, task), self._checked)
        self._show()

    def _checked(self, check: WeightsCheck) -> None:
        if self.checking != check.path:  # another file was chosen meanwhile
            return
        self.checking = None
        self._set_status("")
        if not check.ok:
            self.rejected = check.message
            self._show()
            return
        remember_file(self.project, check.path)
        self._chosen, self._user_chose = str(check.path), True
        file = Candidate("file", f"{check.path.name} · {check.path.parent}", str(check.path),
                         check.path, detail=f"A file you chose: {check.path}",
                         class_names=check.class_names)
        runs = [c for c in self.local if c.kind == "run"]
        files = [c for c in self.local if c.kind == "file" and c.model != file.model]
        self.local = [*runs, file, *files]  # combine() keeps an earlier listing of the same file
        self._populate()
        self._select(str(check.path))
        self._show()

    # -- downloading -----------------------------------------------------------------------------
    def download(self) -> None:
        """Download the chosen official weights on a worker thread (the jobs indicator shows it
        too)."""
        candidate = self.current()
        if candidate is None or candidate.present or self.download_job is not None:
            return
        name = Path(candidate.model).name
        self.offline = ""
        self.progress.setRange(0, 0)
        self.progress.setFormat("connecting…")
        self._set_status("")
        job = self.jobs.start(f"Downloading {name}", lambda progress, cancel:
                              download_official(candidate, progress, cancel))
        job.progress.connect(self._download_progress)
        job.finished.connect(self._downloaded)
        job.failed.connect(self._download_failed)
        job.cancelled.connect(self._download_cancelled)
        job.ended.connect(self._download_ended)
        self.download_job = job
        self._show()

    def cancel_download(self) -> None:
        if self.download_job is not None:
            self.download_job.cancel()
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Cancelling…")

    def _download_progress(self, progress: JobProgress) -> None:
        if progress.total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * progress.done / progress.total))
        self.progress.setFormat(progress.text)  # "1.2 of 6.7 MB"

    def _downloaded(self, result: DownloadResult) -> None:
        if result.path is None:
            self.offline = result.problem
            return
        check = ("checksum verified" if result.verified else
                 "not verified: the studio knows no checksum for it, so only its size and "
                 "format were checked")
        self._set_status(f"Downloaded {result.path.name} into {result.path.parent} ({check}).")
        self._user_chose, self._chosen = True, str(result.path)
        remember_choice(self.project, str(result.path))

    def _download_failed(self, message: str, _details: str) -> None:
        self._set_status("")
        self.rejected = ""
        self.offline = message  # shown with "Choose file…" beside it, like offline

    def _download_cancelled(self) -> None:
        self._set_status("Download cancelled; nothing was kept.")

    def stop(self) -> None:
        """Cancel a download and wait for it (the page is closing; nothing is kept)."""
        job = self.download_job
        if job is not None:
            job.cancel()
            job.wait(10_000)

    def _download_ended(self) -> None:
        self.download_job = None
        self.cancel_button.setEnabled(True)
        self._populate()  # the official weights are present now, or still to download

    # -- helpers ---------------------------------------------------------------------------------
    def _quietly(self, name: str, work, done) -> None:
        """Short work off the GUI thread, not in the jobs indicator; ``done(result)`` after."""
        job = Job(name, work)  # referenced while it runs by studio/workers/job.py
        job.finished.connect(done)
        job.failed.connect(self._quiet_failed)
        job.start()

    def _quiet_failed(self, message: str, _details: str) -> None:
        self.checking = None
        self._set_status("")
        self.rejected = message
        if self.bundled is None:
            self.bundled = []
        self._populate()


def _header(text: str) -> QStandardItem:
    """A group title in the combo: bold, not selectable (arrow keys skip it)."""
    item = QStandardItem(text)
    item.setFlags(Qt.ItemFlag.NoItemFlags)
    font = QFont()
    font.setBold(True)
    item.setFont(font)
    return item
