"""TF.js export: the SavedModel of engine/export/tensorflow.py converted by tensorflowjs's
``convert_tf_saved_model`` to a graph model: ``<stem>_web_model/`` holds ``model.json``, the
weight shards and ``metadata.yaml``.

The conversion runs in the TensorFlow child process (see engine/export/tensorflow.py), which
also keeps the import stubs below out of the application's process.
"""

from __future__ import annotations

import shutil
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..formats.export_metadata import write_metadata_yaml
from ..utils.atomic import atomic_directory
from .tensorflow import TensorFlowExporter, converted


class TfJsExporter(TensorFlowExporter):
    """``format='tfjs'`` -> ``<stem>_web_model/``: run it with ``tf.loadGraphModel`` (its
    input ``images`` is NHWC float32 in 0..1; outputs ``output0`` (``output1``) as PyTorch's)."""

    format = "tfjs"
    name = "TF.js"
    suffix = "_web_model"
    arguments = frozenset({"imgsz", "batch"})
    requirements = (*TensorFlowExporter.requirements, "tensorflowjs")
    no_deps_modules = ("onnx2tf", "tensorflowjs")

    def runtime_missing(self) -> str:
        from ..backends.tfjs_backend import runner_missing

        return super().runtime_missing() or runner_missing()

    def export(self, model, example, target, *, options, metadata, output_shapes, progress):
        with (
            converted(model, example, output_shapes, options, metadata, progress, self.name,
                      product="tfjs") as out,
            atomic_directory(target) as folder,
        ):
            for item in sorted((out.folder / "web_model").iterdir()):
                shutil.move(item, folder / item.name)  # a copy across file systems
            write_metadata_yaml(folder, metadata)
        return target


def saved_model_to_tfjs(saved_model: Path, folder: Path) -> None:
    """Convert the ``serving_default`` signature to a TF.js graph model in ``folder``.

    Output names in ``model.json`` keep the signature's (``output0`` ...). Runs in the child
    process only.
    """
    with _converter_import_stubs():
        from tensorflowjs.converters.tf_saved_model_conversion_v2 import convert_tf_saved_model

    convert_tf_saved_model(
        str(saved_model),
        str(folder),
        signature_def="serving_default",
        saved_model_tags="serve",
        use_structured_outputs_names=True,
    )


@contextmanager
def _converter_import_stubs() -> Iterator[None]:
    """Empty modules for what tensorflowjs's converter package imports but a SavedModel
    conversion never uses, present only while it is imported.

    Installed with --no-deps (its pins would downgrade tensorflow), tensorflowjs lacks
    ``tensorflow_decision_forests`` and ``tensorflow_hub`` (imported at the top of its SavedModel
    converter) and ``jax`` (imported by its own ``converters.jax_conversion``, which the
    package's ``__init__`` imports). Its jax module is stubbed, not jax: a fake ``jax`` breaks
    Keras, which probes for it.
    """
    jax_conversion = types.ModuleType("tensorflowjs.converters.jax_conversion")

    def convert_jax(*_args, **_kwargs):
        raise RuntimeError("JAX conversion is not available in YOLO Studio")

    jax_conversion.convert_jax = convert_jax
    stubs = {
        "tensorflow_decision_forests": types.ModuleType("tensorflow_decision_forests"),
        "tensorflow_hub": types.ModuleType("tensorflow_hub"),
        "tensorflowjs.converters.jax_conversion": jax_conversion,
    }
    added = [name for name in stubs if name not in sys.modules and not _importable(name)]
    for name in added:
        sys.modules[name] = stubs[name]
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def _importable(name: str) -> bool:
    """True when the real module imports (the jax conversion module only with jax installed)."""
    import importlib.util

    if name == "tensorflowjs.converters.jax_conversion":
        return importlib.util.find_spec("jax") is not None
    return importlib.util.find_spec(name) is not None
