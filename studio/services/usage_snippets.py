"""How to use an export: the ``yolo`` commands, Python with the engine, and, for the formats
with a plain runtime (ONNX Runtime, OpenVINO, torch.jit, TF Lite), a script that runs the export
with that runtime alone: no YOLO Studio needed where it is deployed.

Qt-free; the Export page previews these and copies them. Every path is the export's own file
(where it was written, beside its checkpoint), never a folder of the studio's cache. Each plain
script reads the class names and input size from the export's own metadata, so it stays right
for any model, and prints one line per result.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..state.models import CLASS, KEYPOINTS, POLYGON, Image, annotation_kind

if TYPE_CHECKING:
    from .projects import Project

PLACEHOLDER_IMAGE = "path/to/image.jpg"
PLACEHOLDER_DATA = "path/to/data.yaml"


@dataclass(frozen=True)
class Snippet:
    """One runnable piece: ``title`` (a tab's name), ``language`` (shell / python), ``text``."""

    title: str
    language: str
    text: str


def usage_snippets(format: str, task: str, path: Path, *,  # noqa: A002 - engine's word
                   image: Path | None = None, imgsz: int | None = None) -> list[Snippet]:
    """The snippets for the export at ``path`` (``format`` as in ``yolo export format=``).

    ``image`` is the example image the commands and scripts run on (a placeholder when None);
    ``imgsz`` the size it was exported at, for the commands (the scripts read it from the file).
    """
    source = str(image) if image is not None else PLACEHOLDER_IMAGE
    pieces = [Snippet("Command line", "shell", shell_snippet(task, path, source, imgsz)),
              Snippet("Python (engine)", "python", engine_snippet(path, source))]
    plain = plain_runtime_snippet(format, task, path, source)
    if plain is not None:
        pieces.append(plain)
    return pieces


def example_image(project: Project | None, limit: int = 50) -> Path | None:
    """An image of ``project`` that exists on disk (the first by id), for the examples to run
    on as they are; None when the project has none."""
    if project is None:
        return None
    with project.database.session() as session:
        stored = session.scalars(select(Image.path).where(Image.deleted_at.is_(None),
                                                          Image.problem.is_(None))
                                 .order_by(Image.id).limit(limit)).all()
    for path in stored:
        candidate = project.resolve(path)
        if candidate.is_file():
            return candidate
    return None


def snippets_text(snippets: list[Snippet]) -> str:
    """All snippets as one text, each under a comment line with its title."""
    return "\n\n".join(f"# ---- {s.title} ----\n{s.text.rstrip()}" for s in snippets) + "\n"


def imgsz_of(usage: tuple[str, ...] | list[str]) -> int | None:
    """The ``imgsz=`` of the engine's usage lines (None when they do not say)."""
    for line in usage:
        found = re.search(r"\bimgsz=(\d+)", line)
        if found:
            return int(found.group(1))
    return None


def shell_snippet(task: str, path: Path, source: str, imgsz: int | None = None) -> str:
    """``yolo predict`` and ``yolo val`` lines for the export."""
    size = f" imgsz={imgsz}" if imgsz else ""
    model = shlex.quote(str(path))
    return (f"# With YOLO Studio installed (its `yolo` command)\n"
            f"yolo {task} predict model={model} source={shlex.quote(source)}{size}\n"
            f"# data: a YOLO dataset yaml (File > Export Dataset as YOLO writes one)\n"
            f"yolo {task} val model={model} data={PLACEHOLDER_DATA}{size}\n")


def engine_snippet(path: Path, source: str) -> str:
    """Python with the engine: load the export and predict."""
    return ("from engine import YOLO  # YOLO Studio's engine\n\n"
            f"model = YOLO(r{_literal(path)})\n"
            f"for result in model.predict(r{_literal(source)}):\n"
            "    print(result.path, result.verbose())\n")


def plain_runtime_snippet(format: str, task: str, path: Path,  # noqa: A002
                          source: str) -> Snippet | None:
    """A script that runs the export with its own runtime only (None for other formats)."""
    runtime = _RUNTIMES.get(format)
    kind = annotation_kind(task)
    if runtime is None or kind not in _OUTPUTS:
        return None
    title, install, load = runtime
    model_file = _model_file(format, path)
    header = (f'"""Run {model_file.name} ({task}) with {title} alone: no YOLO Studio needed.\n\n'
              f"    pip install {install} opencv-python-headless numpy\n"
              '"""\n')
    constants = (f"MODEL = r{_literal(model_file)}\n"
                 f"IMAGE = r{_literal(source)}  # any image file\n")
    if kind != CLASS:
        constants += "CONF, IOU = 0.25, 0.7  # lowest score kept; overlap that drops a box\n"
    preprocess = _CLASSIFY_INPUT if kind == CLASS else _LETTERBOX_INPUT
    helpers = [] if kind == CLASS else [_NMS, _DETECTIONS]
    parts = [header, _IMPORTS[format], constants, *helpers, load, preprocess, _RUN[format],
             _OUTPUTS[kind]]
    return Snippet(f"{title} (no engine)", "python", _joined(parts))


def _joined(parts: list[str]) -> str:
    """The script's parts, one blank line apart, two around a top-level ``def`` (PEP 8)."""
    text, previous = "", ""
    for part in (p.strip("\n") for p in parts if p.strip()):
        if text:
            defines = any(("\n" + piece).count("\ndef ") for piece in (part, previous))
            text += "\n\n\n" if defines else "\n\n"
        text, previous = text + part, part
    return text + "\n"


def _model_file(format: str, path: Path) -> Path:  # noqa: A002
    """The file a runtime opens: OpenVINO's ``.xml`` inside its folder, else ``path``."""
    if format == "openvino" and path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        return xmls[0] if xmls else path / (path.name.removesuffix("_openvino_model") + ".xml")
    return path


def _literal(value: object) -> str:
    """``value`` as the inside of a Python raw string literal (quotes included)."""
    text = str(value)
    quote = '"' if '"' not in text else "'"
    if text.endswith("\\"):  # a raw string cannot end with a backslash
        text += "."
    return f"{quote}{text}{quote}"


# ---- the pieces of the plain scripts --------------------------------------------------------
# Each runtime's part defines `names` (class index -> name), `height, width` (the input size it
# was exported at) and, for pose, `keypoints, dims`; its run part turns `blob` (float32 NCHW,
# RGB in 0..1) into `outputs`, a list of numpy arrays in the engine's layout.

_IMPORTS = {
    "onnx": "import ast\n\nimport cv2\nimport numpy as np\nimport onnxruntime as ort\n",
    "openvino": "import ast\n\nimport cv2\nimport numpy as np\nimport openvino as ov\n",
    "torchscript": "import json\n\nimport cv2\nimport numpy as np\nimport torch\n",
    "tflite": ("import json\nimport zipfile\n\nimport cv2\nimport numpy as np\n"
               "from ai_edge_litert.interpreter import Interpreter\n"),
}

_ONNX_LOAD = """
session = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map  # what the export stored
names = ast.literal_eval(meta["names"])  # {0: "name", ...}
height, width = ast.literal_eval(meta["imgsz"])  # the input size it was exported at
keypoints, dims = ast.literal_eval(meta.get("kpt_shape", "(0, 0)"))
"""

_OPENVINO_LOAD = """
core = ov.Core()
network = core.read_model(MODEL)


def info(key, default="None"):
    \"\"\"A value the export stored in the model (a Python literal).\"\"\"
    if not network.has_rt_info(["model_info", key]):
        return ast.literal_eval(default)
    return ast.literal_eval(network.get_rt_info(["model_info", key]).astype(str))


names = info("names")  # {0: "name", ...}
height, width = info("imgsz")  # the input size it was exported at
keypoints, dims = info("kpt_shape", "(0, 0)")
compiled = core.compile_model(network, "CPU")
"""

_TORCHSCRIPT_LOAD = """
files = {"config.txt": ""}  # the export's metadata travels inside the file
model = torch.jit.load(MODEL, map_location="cpu", _extra_files=files).eval()
meta = json.loads(files["config.txt"])
names = {int(k): v for k, v in meta["names"].items()}
height, width = meta["imgsz"]  # the input size it was exported at
keypoints, dims = meta.get("kpt_shape") or (0, 0)
"""

_TFLITE_LOAD = """
with zipfile.ZipFile(MODEL) as archive:  # the metadata is a zip appended to the model
    meta = json.loads(archive.read("metadata.json"))
names = {int(k): v for k, v in meta["names"].items()}
height, width = meta["imgsz"]  # the input size it was exported at
keypoints, dims = meta.get("kpt_shape") or (0, 0)
interpreter = Interpreter(model_path=MODEL)
interpreter.allocate_tensors()
"""

_RUNTIMES = {
    "onnx": ("ONNX Runtime", "onnxruntime", _ONNX_LOAD),
    "openvino": ("OpenVINO", "openvino", _OPENVINO_LOAD),
    "torchscript": ("torch.jit", "torch", _TORCHSCRIPT_LOAD),
    "tflite": ("TF Lite", "ai-edge-litert", _TFLITE_LOAD),
}

_RUN = {
    "onnx": """
outputs = session.run(None, {session.get_inputs()[0].name: blob})
""",
    "openvino": """
answer = compiled(blob)
outputs = [answer[port] for port in compiled.outputs]
""",
    "torchscript": """
with torch.no_grad():
    answer = model(torch.from_numpy(blob))
outputs = [t.numpy() for t in (answer if isinstance(answer, (list, tuple)) else [answer])]
""",
    "tflite": """
def quantised(detail):
    scale, zero = detail["quantization"]
    return scale != 0, scale, zero


given = interpreter.get_input_details()[0]
tensor = blob.transpose(0, 2, 3, 1)  # TF Lite takes NHWC
is_int, scale, zero = quantised(given)
if is_int:  # an int8 model takes quantised input
    tensor = np.round(tensor / scale + zero).astype(given["dtype"])
interpreter.set_tensor(given["index"], tensor)
interpreter.invoke()
outputs = []
for detail in interpreter.get_output_details():
    value = interpreter.get_tensor(detail["index"])
    is_int, scale, zero = quantised(detail)
    outputs.append((value.astype(np.float32) - zero) * scale if is_int else value)
outputs.sort(key=lambda value: value.ndim)  # detections first, then mask prototypes
if len(outputs) > 1 and outputs[1].shape[1] != outputs[0].shape[1] - 4 - len(names):
    outputs[1] = outputs[1].transpose(0, 3, 1, 2)  # prototypes NHWC -> NCHW
if names and outputs[0].ndim == 3:  # TF Lite keeps coordinates divided by the input size
    first = 4 + len(names)
    scales = np.ones(outputs[0].shape[1], np.float32)
    scales[[0, 2]], scales[[1, 3]] = width, height
    if keypoints:
        scales[first::dims], scales[first + 1::dims] = width, height
    outputs[0] = outputs[0] * scales[None, :, None]
""",
}

_CLASSIFY_INPUT = """
# Preprocess: the centre square, resized to the input size; BGR -> RGB, 0..255 -> 0..1, NCHW
image = cv2.imread(IMAGE)
if image is None:
    raise SystemExit(f"cannot read {IMAGE}")
h0, w0 = image.shape[:2]
side = min(h0, w0)
top, left = (h0 - side) // 2, (w0 - side) // 2
shrink = cv2.INTER_AREA if side >= 2 * max(height, width) else cv2.INTER_LINEAR
square = cv2.resize(image[top:top + side, left:left + side], (width, height),
                    interpolation=shrink)
blob = np.ascontiguousarray(square[:, :, ::-1].transpose(2, 0, 1)[None], np.float32) / 255
"""

_LETTERBOX_INPUT = """
# Preprocess: letterbox (resize keeping the aspect ratio, pad with grey 114 to the input
# size); BGR -> RGB, 0..255 -> 0..1, NCHW
image = cv2.imread(IMAGE)
if image is None:
    raise SystemExit(f"cannot read {IMAGE}")
h0, w0 = image.shape[:2]
ratio = min(height / h0, width / w0)
new_w, new_h = round(w0 * ratio), round(h0 * ratio)
left, top = (width - new_w) // 2, (height - new_h) // 2
canvas = np.full((height, width, 3), 114, np.uint8)
canvas[top:top + new_h, left:left + new_w] = cv2.resize(image, (new_w, new_h),
                                                        interpolation=cv2.INTER_LINEAR)
blob = np.ascontiguousarray(canvas[:, :, ::-1].transpose(2, 0, 1)[None], np.float32) / 255
"""

_CLASSIFY_OUTPUT = """
# Output: [1, classes], the probability of each class (softmax applied)
probs = outputs[0][0]
for index in np.argsort(-probs)[:5]:
    print(f"{names[int(index)]} {probs[index]:.4f}")
"""

_NMS = """
def nms(boxes, scores, iou):
    \"\"\"Indices kept by greedy non-maximum suppression, best score first.\"\"\"
    order, kept = np.argsort(-scores), []
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        best, order = order[0], order[1:]
        kept.append(best)
        x1 = np.maximum(boxes[best, 0], boxes[order, 0])
        y1 = np.maximum(boxes[best, 1], boxes[order, 1])
        x2 = np.minimum(boxes[best, 2], boxes[order, 2])
        y2 = np.minimum(boxes[best, 3], boxes[order, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        order = order[inter / (area[best] + area[order] - inter + 1e-9) <= iou]
    return np.array(kept, dtype=int)
"""

_DETECTIONS = """
def detections(output):
    \"\"\"Rows of the objects kept, their classes, scores and boxes (x1, y1, x2, y2 in image
    pixels). ``output`` is [4 + classes + extra, anchors]: the box centre x, y, width and
    height in input pixels, one score per class, then the task's extra values.\"\"\"
    rows = output.T
    scores = rows[:, 4:4 + len(names)]
    classes, confidence = scores.argmax(1), scores.max(1)
    keep = confidence > CONF
    rows, classes, confidence = rows[keep], classes[keep], confidence[keep]
    xy, wh = rows[:, :2], rows[:, 2:4]
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    keep = nms(boxes + classes[:, None] * 7680.0, confidence, IOU)[:300]  # per class
    boxes = (boxes[keep] - [left, top, left, top]) / ratio  # input -> image pixels
    boxes = boxes.clip(0, [w0, h0, w0, h0])
    return rows[keep], classes[keep], confidence[keep], boxes
"""

_SEGMENT_OUTPUT = """
# Outputs: [1, 4 + classes + 32, anchors] (boxes, class scores, 32 mask coefficients) and
# [1, 32, height / 4, width / 4], the mask prototypes that the coefficients mix
rows, classes, confidence, boxes = detections(outputs[0][0])
prototypes = outputs[1][0]
mixed = rows[:, 4 + len(names):] @ prototypes.reshape(len(prototypes), -1)
masks = (1 / (1 + np.exp(-mixed))).reshape(-1, *prototypes.shape[1:])
for name_index, score, box, mask in zip(classes, confidence, boxes, masks):
    mask = cv2.resize(mask, (width, height))[top:top + new_h, left:left + new_w]
    mask = cv2.resize(mask, (w0, h0)) > 0.5  # in image pixels
    x1, y1, x2, y2 = box.round().astype(int)
    inside = np.zeros_like(mask)
    inside[y1:y2, x1:x2] = True
    mask &= inside  # the mask is cut to its box
    print(f"{names[int(name_index)]} {score:.4f} box {box.round(1).tolist()} "
          f"mask {int(mask.sum())} px")
"""

_POSE_OUTPUT = """
# Output: [1, 4 + classes + keypoints * dims, anchors]: boxes, class scores, then per keypoint
# x, y (input pixels) and, when dims is 3, its visibility (0..1)
rows, classes, confidence, boxes = detections(outputs[0][0])
points = rows[:, 4 + len(names):].reshape(len(rows), keypoints, dims).copy()
points[..., :2] = (points[..., :2] - [left, top]) / ratio  # input -> image pixels
for name_index, score, box, joints in zip(classes, confidence, boxes, points):
    print(f"{names[int(name_index)]} {score:.4f} box {box.round(1).tolist()} "
          f"keypoints {[[round(float(v), 2) for v in joint] for joint in joints]}")
"""

_OUTPUTS = {CLASS: _CLASSIFY_OUTPUT, POLYGON: _SEGMENT_OUTPUT, KEYPOINTS: _POSE_OUTPUT}
"""What the script does with the outputs, by the kind of annotation the task trains (the kind
says the head: class scores, boxes with mask coefficients, boxes with keypoints)."""
