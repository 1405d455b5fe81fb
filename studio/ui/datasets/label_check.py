"""The "Check labels" window of the Datasets page: likely label errors across the project.

The check runs as a job (the window stays usable; the jobs indicator shows it); the findings
list kind, image and what looks wrong. A double-click or Enter opens the image in Annotate;
Dismiss (or Delete) hides a finding for good — the project remembers it ("Show dismissed" lists
them again). Opening a finding also selects its annotation there. With a run of the
project chosen under "Compare with", the check also runs that model over the images and lists
where it disagrees. Nothing here changes a label: the user fixes what they agree with in Annotate.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.assist.checker import Finding

from ...services.label_check import (
    KIND_TITLES,
    LabelCheck,
    check_project,
    dismiss,
    forget_dismissals,
)
from ...services.projects import Project
from ...services.runs import list_runs
from ...services.wording import plural
from ...workers.job import Job, JobManager

FINDING_ROLE = Qt.ItemDataRole.UserRole


class LabelCheckWindow(QDialog):
    """Findings of the label checker on ``project``; ``openImage(image_id)`` asks for an image
    in Annotate, then ``selectAnnotation(annotation_id)`` for the finding's first instance."""

    openImage = Signal(int)
    selectAnnotation = Signal(int)

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.jobs = jobs
        self.job: Job | None = None
        self.setWindowTitle("Check labels")
        self.setModal(False)
        self.resize(760, 420)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.model_choice = QComboBox()
        self.model_choice.setToolTip("A trained model to compare the labels with (slower: it "
                                     "looks at every image)")
        self.model_choice.addItem("No model", None)
        for run in list_runs(project):  # a few rows: quick enough for the GUI thread
            checkpoint = run.checkpoint()
            if checkpoint is not None:
                self.model_choice.addItem(f"Run {run.name}", str(checkpoint))
        choice_row = QHBoxLayout()
        choice_row.addWidget(QLabel("Compare with:"))
        choice_row.addWidget(self.model_choice, 1)
        self.findings = QTreeWidget()
        self.findings.setRootIsDecorated(False)
        self.findings.setHeaderLabels(["Kind", "Image", "What looks wrong"])
        self.findings.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.findings.setColumnWidth(0, 190)
        self.findings.setColumnWidth(1, 150)
        self.findings.itemActivated.connect(self._open)  # double-click and Enter
        self.findings.itemSelectionChanged.connect(self._update_buttons)
        self.check_button = QPushButton("Check again")
        self.check_button.clicked.connect(self.run_check)
        self.open_button = QPushButton("Open in Annotate")
        self.open_button.clicked.connect(lambda: self._open(self.findings.currentItem()))
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setToolTip("Hide the selected findings in this project (Delete)")
        self.dismiss_button.clicked.connect(self.dismiss_selected)
        self.undismiss_button = QPushButton("Show dismissed")
        self.undismiss_button.setToolTip("List the findings dismissed in this project again")
        self.undismiss_button.clicked.connect(self.show_dismissed)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        shortcut = QShortcut(QKeySequence(Qt.Key.Key_Delete), self.findings)
        shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        shortcut.activated.connect(self.dismiss_selected)
        buttons = QHBoxLayout()
        for button in (self.check_button, self.open_button, self.dismiss_button,
                       self.undismiss_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(choice_row)
        layout.addWidget(self.status)
        layout.addWidget(self.findings, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    def run_check(self) -> None:
        """Check the project's labels in the background (one check at a time)."""
        if self.job is not None and self.job.running:
            return
        self.findings.clear()
        model = self.model_choice.currentData()
        self.status.setText("Checking the labels…" if model is None else
                            "Checking the labels against the model (it looks at every image)…")
        self.check_button.setEnabled(False)
        self.job = self.jobs.start("Check labels", check_project(self.project, model))
        self.job.finished.connect(self._show)
        self.job.failed.connect(lambda message, _details: self._ended(
            f"The check could not finish: {message}"))
        self.job.cancelled.connect(lambda: self._ended("The check was cancelled."))

    def shown_findings(self) -> list[Finding]:
        """The findings listed, in order."""
        return [self.findings.topLevelItem(row).data(0, FINDING_ROLE)
                for row in range(self.findings.topLevelItemCount())]

    def dismiss_selected(self) -> None:
        """Take the selected findings off the list and remember them as dismissed."""
        items = self.findings.selectedItems()
        if not items:
            return
        chosen = [item.data(0, FINDING_ROLE) for item in items]
        for item in items:
            self.findings.takeTopLevelItem(self.findings.indexOfTopLevelItem(item))
        project = self.project
        job = self.jobs.start("Dismiss findings", lambda _progress, _cancel: dismiss(project,
                                                                                    chosen))
        job.failed.connect(lambda message, _details: self.status.setText(
            f"Could not remember the dismissal: {message}"))
        self.status.setText(f"Dismissed {plural(len(chosen), 'finding')}; "
                            f"{plural(self.findings.topLevelItemCount(), 'finding')} left.")

    def show_dismissed(self) -> None:
        """Forget the project's dismissals, then check again (they are listed once more)."""
        if self.job is not None and self.job.running:
            return
        project = self.project
        job = self.jobs.start("Show dismissed findings",
                              lambda _progress, _cancel: forget_dismissals(project))
        job.finished.connect(lambda _count: self.run_check())
        job.failed.connect(lambda message, _details: self.status.setText(
            f"Could not bring the dismissed findings back: {message}"))

    def _show(self, result: LabelCheck) -> None:
        for finding in result.findings:
            name = result.image_names.get(int(finding.image), str(finding.image))
            title = KIND_TITLES.get(finding.kind, finding.kind)
            item = QTreeWidgetItem([title, name, finding.message])
            item.setData(0, FINDING_ROLE, finding)
            item.setToolTip(2, finding.message)
            self.findings.addTopLevelItem(item)
        if result.findings:
            text = (f"{plural(len(result.findings), 'likely error')} in "
                    f"{plural(result.labels, 'label')}. Double-click one to open its image; "
                    "nothing is changed until you edit it.")
        else:
            text = f"No likely errors in {plural(result.labels, 'label')}."
        self._ended(text)
        if result.findings:
            self.findings.setCurrentItem(self.findings.topLevelItem(0))

    def _ended(self, text: str) -> None:
        self.status.setText(text)
        self.check_button.setEnabled(True)
        self._update_buttons()

    def _open(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        finding: Finding = item.data(0, FINDING_ROLE)
        self.openImage.emit(int(finding.image))
        if finding.instances:
            self.selectAnnotation.emit(int(finding.instances[0]))

    def _update_buttons(self) -> None:
        selected = bool(self.findings.selectedItems())
        self.open_button.setEnabled(selected)
        self.dismiss_button.setEnabled(selected)


def open_label_check(project: Project, jobs: JobManager, parent: QWidget,
                     open_image) -> LabelCheckWindow:
    """Open the window over ``parent`` and start a check; ``open_image(image_id)`` shows an
    image in Annotate."""
    window = LabelCheckWindow(project, jobs, parent)
    window.openImage.connect(open_image)
    window.selectAnnotation.connect(lambda annotation_id: select_in_annotate(parent,
                                                                             annotation_id))
    window.show()
    window.run_check()
    return window


def select_in_annotate(parent: QWidget, annotation_id: int) -> None:
    """Select the annotation ``annotation_id`` on the main window's Annotate page, when that
    page shows its image (it does right after ``openImage``), also one drawn in this session."""
    annotate = getattr(parent.window(), "pages", {}).get("Annotate")
    document = getattr(annotate, "document", None)
    key = document.key_of(annotation_id) if document is not None else None
    if key is not None:
        annotate.canvas.select(key)
