"""The Predict page: run a model over project images, a folder, a video or a webcam in a Job,
cache the raw predictions per frame, and re-filter them live with the sliders; compare with
the ground truth; save the overlays; pre-label the project with the model (drafts)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.utils.atomic import atomic_writer

from ...services import annotations as annotation_service
from ...services import predictions as service
from ...services.image_queries import Shape
from ...services.palette import KEYPOINT_SIDES, keypoint_side
from ...services.prelabel import PrelabelReport, run_prelabel
from ...services.projects import Project
from ...services.runs import list_runs
from ...services.thumbnails import OverlayStyle
from ...services.wording import plural
from ...workers.job import Job, JobManager
from ..file_dialogs import start_folder
from ..page import Page
from .controls import PredictControls
from .render import OverlayOptions, Palette, render
from .view import OverlayView


class _FrameSignals(QObject):
    """Brings frames made on the Job's thread to the GUI thread as they come."""

    frame = Signal(object)


class PredictPage(Page, QWidget):
    """Prediction overlay viewer and pre-labelling. ``draftsCreated(count)`` after a
    pre-label run wrote drafts (the Annotate page should reload)."""

    draftsCreated = Signal(int)
    context_title = "Prediction"

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.classes = project.classes()
        self.schema = project.keypoint_schema()
        self.frames: list[service.FramePrediction] = []
        self.current = -1
        self.model_runs = 0  # how many times the model ran over a source (tests)
        self.job: Job | None = None
        self.last_run: service.PredictionRun | None = None
        self.last_prelabel: PrelabelReport | None = None
        self.info: service.ModelInfo | None = None
        self._loaded: tuple[Path, Any, service.ModelInfo] | None = None
        self._truth: dict[int, list[Shape]] = {}
        self._signals = _FrameSignals(self)
        self._signals.frame.connect(self._add_frame)
        self._build()
        self._make_actions()
        self.refresh()

    # -- building ---------------------------------------------------------------------------
    def _build(self) -> None:
        self.view = OverlayView()
        self.view.style = replace(OverlayStyle.from_project(self.project), keypoint_dims=3)
        self.controls = PredictControls()
        c = self.controls
        c.set_task(self.project.task)
        c.optionsChanged.connect(lambda: self.view.set_options(self.options()))
        c.run_button.clicked.connect(self.run)
        c.cancel_button.clicked.connect(self.cancel)
        c.browse_model_file.clicked.connect(self._choose_model_file)
        c.browse_model_folder.clicked.connect(self._choose_model_folder)
        c.browse_source.clicked.connect(self._choose_source)
        c.save_button.clicked.connect(self._choose_save_folder)
        c.prelabel_button.clicked.connect(self.prelabel)
        self.previous_button, self.next_button = QPushButton("◀"), QPushButton("▶")
        self.previous_button.setToolTip("Previous frame (A / ←)")
        self.next_button.setToolTip("Next frame (D / →)")
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.setRange(0, 0)
        self.frame_slider.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel("No frames")
        bar = QHBoxLayout()
        for widget in (self.previous_button, self.frame_slider, self.next_button,
                       self.frame_label):
            bar.addWidget(widget, 1 if widget is self.frame_slider else 0)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.view, 1)
        left_layout.addLayout(bar)
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.controls)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([900, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    def _make_actions(self) -> None:
        self._shortcuts: list[tuple[str, str]] = []
        for keys, text, step in ((["D", "Right"], "Next frame / image", 1),
                                 (["A", "Left"], "Previous frame / image", -1)):
            action = QAction(text, self)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            action.triggered.connect(lambda _=False, s=step: self.step(s))
            self.addAction(action)
            self._shortcuts.append((" / ".join(keys), text))

    def shortcuts(self) -> list[tuple[str, str]]:
        """``(key, what it does)`` for the F1 cheat sheet."""
        return list(self._shortcuts)

    def options(self) -> OverlayOptions:
        """The controls' drawing options; side by side, the right pane is captioned with the
        model that made the predictions shown."""
        options = self.controls.options()
        if self.info is not None:
            options = replace(options, prediction_title=f"Prediction · {self.info.path.name}")
        return options

    def context_widget(self) -> QWidget:
        """Model, source and display settings, for the right-hand dock."""
        return self.controls

    def refresh(self) -> None:
        """Offer the runs' checkpoints again (after training elsewhere), and take the
        project's classes again (an import may have added some)."""
        self.classes = self.project.classes()
        self.view.style = replace(OverlayStyle.from_project(self.project), keypoint_dims=3)
        if self.info is not None:
            self._set_model_info(self.info)
        for run in list_runs(self.project):
            checkpoint = run.checkpoint()
            if checkpoint is not None:
                self.controls.add_model(f"{run.name} · {checkpoint.name}", checkpoint,
                                        select=self.controls.model_path() is None)
        self._truth.clear()

    def close_page(self) -> None:
        """Stop the page's job before the project closes."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10000)

    # -- choosing -----------------------------------------------------------------------------
    def set_model_path(self, path: str | Path) -> None:
        """Choose a checkpoint or export (offered in the list from now on)."""
        path = Path(path)
        self.controls.add_model(path.name, path)

    def set_source(self, kind: str, target: str | int | None = None) -> None:
        """``kind``: ``project``, ``folder``, ``video`` or ``webcam`` (with a path or index)."""
        index = {"project": 0, "folder": 1, "video": 2, "webcam": 3}[kind]
        self.controls.source_kind.setCurrentIndex(index)
        if kind == "webcam":
            self.controls.camera.setValue(int(target or 0))
        elif target is not None:
            self.controls.source_path.setText(str(target))

    def _choose_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model", start_folder(self.project.folder, self.controls.model_path()),
            "Models (*.pt *.onnx *.torchscript *.tflite *.engine *.mlpackage *.pb);;All (*)")
        if path:
            self.set_model_path(path)

    def _choose_model_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose an exported model folder",
            start_folder(self.project.folder, self.controls.model_path()))
        if path:
            self.set_model_path(path)

    def _choose_source(self) -> None:
        folder = start_folder(self.project.folder, self.controls.source_path.text().strip())
        if self.controls.source_kind.currentText() == "Folder":
            path = QFileDialog.getExistingDirectory(self, "Choose a folder of images", folder)
        else:
            path, _ = QFileDialog.getOpenFileName(
                self, "Choose a video", folder,
                "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All (*)")
        if path:
            self.controls.source_path.setText(path)

    def _source(self) -> tuple[Any, dict[str, int], int]:
        """The engine source, the image ids by path (project images) and the frame count."""
        kind = self.controls.source_kind.currentIndex()
        if kind == 0:
            database = self.project.database
            ids = annotation_service.list_image_ids(database)
            paths = {str(annotation_service.load_image(database, i, self.project.resolve).path):
                     i for i in ids}
            if not paths:
                raise ValueError("The project has no images yet: import some on the Datasets "
                                 "page, or choose a folder or a video.")
            return list(paths), paths, len(paths)
        if kind == 3:
            return int(self.controls.camera.value()), {}, 0
        text = self.controls.source_path.text().strip()
        if not text or not Path(text).exists():
            raise ValueError(f"Choose an existing {'folder' if kind == 1 else 'video file'} "
                             "first.")
        return text, {}, 0

    # -- running ------------------------------------------------------------------------------
    def _model(self, path: Path) -> tuple[Any, service.ModelInfo]:
        """Load (or reuse) the model; called on the Job's thread."""
        if self._loaded is not None and self._loaded[0] == path:
            return self._loaded[1], self._loaded[2]
        model, info = service.open_model(path)
        self._loaded = (path, model, info)
        return model, info

    def run(self) -> Job | None:
        """Run the chosen model over the chosen source in a Job."""
        path = self.controls.model_path()
        if path is None:
            self._say("Choose a model first: a run's checkpoint, or File… / Folder….")
            return None
        try:
            source, image_ids, total = self._source()
        except ValueError as exc:
            self._say(str(exc))
            return None
        strict = self.controls.source_kind.currentIndex() == 0
        self.controls.set_runtime("")  # until this run says what ran it
        self.frames, self.current, self._truth = [], -1, {}
        self.view.set_frame(None, None)
        self._update_frame_bar()
        signals = self._signals

        def work(progress, cancel) -> service.PredictionRun:
            model, info = self._model(path)
            if strict:
                service.check_task(info, self.project.task)
            signals.frame.emit(info)  # the model's names before the first frame
            self.model_runs += 1
            return service.predict_frames(model, source, imgsz=info.imgsz, image_ids=image_ids,
                                          on_frame=signals.frame.emit, progress=progress,
                                          cancel=cancel, total=total)

        self._say(f"Running {path.name}…")
        job = self._start(f"Predicting with {path.name}", work, self._run_finished)
        # Run (in the dock) is disabled while it runs, and Qt would hand the keyboard to the
        # next control there (the confidence slider, which then took → and D went nowhere)
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)
        return job

    def _start(self, name: str, work, on_finished) -> Job:
        self.controls.set_running(True)
        job = self.jobs.start(name, work)
        self.job = job
        job.finished.connect(on_finished)
        job.failed.connect(lambda message, _details: self._say(message, error=True))
        job.cancelled.connect(lambda: self._say("Cancelled; what was done is kept."))
        job.ended.connect(lambda: self.controls.set_running(False))
        return job

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def _run_finished(self, run: service.PredictionRun) -> None:
        self.last_run = run
        self.controls.set_runtime(run.runtime)
        text = f"{plural(len(run.frames), 'frame')} predicted."
        for note in run.notes:
            text += f" Note: {note}"  # e.g. a runtime that fell back to PyTorch
        if run.skipped:
            names = ", ".join(f"{Path(p).name} ({why})" for p, why in run.skipped[:5])
            text += f" Skipped {len(run.skipped)} unreadable: {names}"
        for warning in self.info.warnings if self.info is not None else ():
            text += f" Note: {warning}"  # e.g. an export another tool wrote can run code
        self._say(text, error=bool(run.skipped))

    def _add_frame(self, item: Any) -> None:
        if isinstance(item, service.ModelInfo):
            self._set_model_info(item)
            return
        self.frames.append(item)
        self._update_frame_bar()
        if self.current < 0:
            self.show_frame(0)

    def _set_model_info(self, info: service.ModelInfo) -> None:
        self.info = info
        colors = {c.index: c.color for c in self.classes}
        skeleton, sides = info.skeleton, ()
        if self.schema is not None:
            skeleton = skeleton or self.schema.skeleton
            sides = tuple(KEYPOINT_SIDES[keypoint_side(n)] for n in self.schema.names)
        self.view.palette_info = Palette(dict(info.names), colors, tuple(skeleton), sides)
        self.view.class_count = len(info.names)
        self.controls.set_classes(dict(info.names), colors)  # redraws with self.options()

    # -- frames -------------------------------------------------------------------------------
    def step(self, step: int) -> None:
        """Next (1) or previous (-1) frame."""
        if self.frames:
            self.show_frame(min(max(self.current + step, 0), len(self.frames) - 1))

    def show_frame(self, index: int) -> None:
        if not 0 <= index < len(self.frames):
            return
        self.current = index
        frame = self.frames[index]
        self.view.set_frame(frame, self._ground_truth(frame))
        self._update_frame_bar()

    def _ground_truth(self, frame: service.FramePrediction) -> list[Shape] | None:
        """The user's labels of a project image (drafts are not ground truth)."""
        if frame.image_id is None:
            return None
        if frame.image_id not in self._truth:
            rows = annotation_service.load_annotations(self.project.database, frame.image_id)
            self._truth[frame.image_id] = [Shape(a.kind, a.class_index, a.polygon, a.box,
                                                 a.keypoints) for a in rows if not a.draft]
        return self._truth[frame.image_id]

    def _update_frame_bar(self) -> None:
        count = len(self.frames)
        self.frame_slider.blockSignals(True)
        self.frame_slider.setRange(0, max(count - 1, 0))
        self.frame_slider.setValue(max(self.current, 0))
        self.frame_slider.blockSignals(False)
        if count and self.current >= 0:
            self.frame_label.setText(f"{self.current + 1} / {count} · "
                                     f"{self.frames[self.current].label}")
        else:
            self.frame_label.setText("No frames")

    # -- saving and pre-labelling -----------------------------------------------------------
    def _choose_save_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the overlays to",
                                                  start_folder(self.project.folder))
        if folder:
            self.save_overlays(Path(folder))

    def save_overlays(self, folder: Path) -> Job | None:
        """Write every frame with its overlays (as shown now) as PNG files, atomically."""
        if not self.frames:
            self._say("Nothing to save yet: run a model first.")
            return None
        frames, options = list(self.frames), self.options()
        truths = [self._ground_truth(f) for f in frames]
        palette, style, count = self.view.palette_info, self.view.style, self.view.class_count

        def work(progress, cancel) -> int:
            for number, (frame, truth) in enumerate(zip(frames, truths, strict=True)):
                cancel.raise_if_cancelled()
                image = render(frame, truth, palette, style, options, count)
                data = QByteArray()
                buffer = QBuffer(data)
                buffer.open(QIODevice.OpenModeFlag.WriteOnly)
                image.save(buffer, "PNG")
                suffix = "" if frame.frame is None else f"_{frame.frame:06d}"
                with atomic_writer(folder / f"{number:05d}_{Path(frame.source).stem}"
                                            f"{suffix}.png") as handle:
                    handle.write(bytes(data.data()))
                progress(number + 1, len(frames), frame.label)
            return len(frames)

        return self._start("Saving overlays", work,
                           lambda n: self._say(f"Saved {plural(n, 'overlay')} to {folder}."))

    def prelabel(self) -> Job | None:
        """Pre-label the project's images with the chosen model (drafts) in a Job."""
        path = self.controls.model_path()
        if path is None:
            self._say("Choose a model first: a run's checkpoint, or File… / Folder….")
            return None
        only_unlabelled = self.controls.prelabel_scope.currentIndex() == 0
        conf = self.controls.prelabel_conf.value()

        def work(progress, cancel) -> PrelabelReport:
            return run_prelabel(self.project, path, only_unlabelled=only_unlabelled, conf=conf,
                                progress=progress, cancel=cancel)

        self._say(f"Pre-labelling with {path.name}…")
        return self._start(f"Pre-labelling with {path.name}", work, self._prelabel_finished)

    def _prelabel_finished(self, report: PrelabelReport) -> None:
        self.last_prelabel = report
        text = (f"Pre-labelled {plural(report.images, 'image')}: "
                f"{plural(report.drafts, 'draft')}. Review them "
                "on the Annotate page (Review drafts): Enter accepts, Delete rejects.")
        if report.skipped:
            text += f" Skipped {plural(len(report.skipped), 'unreadable image')}."
        self._say(text)
        self.draftsCreated.emit(report.drafts)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.controls.status.setText(text)
        self.controls.status.setStyleSheet("color: #c62828;" if error else "")
        if not self.frames:
            self.view.message = text
            self.view.update()
