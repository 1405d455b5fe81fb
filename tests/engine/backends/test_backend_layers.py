"""The backends sit below export: running a model imports none of the exporters."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_predicting_with_a_pt_through_its_backend_imports_no_export_module(tmp_path):
    code = (
        "import sys, torch\n"
        "from engine.checkpoints import checkpoint_dict, save_checkpoint\n"
        "from engine.nn import build_model\n"
        "model = build_model('yolov8n-cls.yaml', num_classes=3)\n"
        f"path = save_checkpoint({str(tmp_path / 'm.pt')!r}, checkpoint_dict(model))\n"
        "for name in [m for m in sys.modules if m.startswith('engine.')]:\n"
        "    del sys.modules[name]  # only what loading and predicting imports counts\n"
        "from engine.backends import load_backend\n"
        "backend = load_backend(path, device='cpu')\n"
        "probabilities = backend.forward(torch.rand(2, 3, 32, 32))\n"
        "assert tuple(probabilities.shape) == (2, 3), probabilities.shape\n"
        "exports = sorted(m for m in sys.modules if m.startswith('engine.export'))\n"
        "assert not exports, exports\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_backend_module_imports_the_exporters():
    code = (
        "import importlib, pkgutil, sys\n"
        "import engine.backends as backends\n"
        "for info in pkgutil.iter_modules(backends.__path__):\n"
        "    importlib.import_module(f'engine.backends.{info.name}')\n"
        "exports = sorted(m for m in sys.modules if m.startswith('engine.export'))\n"
        "assert not exports, exports\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
