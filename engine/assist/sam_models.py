"""Segment Anything ONNX files: which halves a file is, which pairs a models folder holds, and
the published pairs that can be downloaded.

Two layouts are supported, told apart by the graphs' input and output names (the contract that
samexporter and X-AnyLabeling export and read):

- ``sam1`` (SAM 1, MobileSAM): the encoder takes ``input_image``, either ``[1, 3, 1024, 1024]``
  float normalised with SAM's pixel mean/std (0..255 scale) and padded bottom-right, or a raw
  ``[H, W, 3]`` RGB float image the graph normalises and pads itself; it gives
  ``image_embeddings`` ``[1, 256, 64, 64]``. The decoder takes ``image_embeddings``,
  ``point_coords`` ``[1, N, 2]``, ``point_labels`` ``[1, N]`` (1 positive, 0 negative, 2/3 box
  corners, -1 padding), ``mask_input`` ``[1, 1, 256, 256]``, ``has_mask_input`` ``[1]`` and
  ``orig_im_size`` ``[2]`` (H, W), and gives ``masks``, ``iou_predictions`` and
  ``low_res_masks``.
- ``sam2`` (SAM 2 / 2.1): the encoder takes ``image`` ``[1, 3, 1024, 1024]`` (the picture
  stretched to the square, ImageNet mean/std on 0..1) and gives ``high_res_feats_0``,
  ``high_res_feats_1`` and ``image_embed``; the decoder takes those three plus
  ``point_coords``, ``point_labels``, ``mask_input`` and ``has_mask_input`` and gives ``masks``
  (low resolution, 256 x 256) and ``iou_predictions``.

Points are in the pixels of the encoder's 1024 input in both layouts.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..cancel import NEVER, CancelToken
from ..downloads import download_file
from ..errors import EngineError
from ..events import Reporter, ignore

Layout = Literal["sam1", "sam2"]
Half = Literal["encoder", "decoder"]

DECODER_INPUTS: dict[str, tuple[str, ...]] = {
    "sam1": (
        "image_embeddings",
        "point_coords",
        "point_labels",
        "mask_input",
        "has_mask_input",
        "orig_im_size",
    ),
    "sam2": (
        "image_embed",
        "high_res_feats_0",
        "high_res_feats_1",
        "point_coords",
        "point_labels",
        "mask_input",
        "has_mask_input",
    ),
}
ENCODER_OUTPUTS: dict[str, tuple[str, ...]] = {
    "sam1": ("image_embeddings",),
    "sam2": ("high_res_feats_0", "high_res_feats_1", "image_embed"),
}
LAYOUT_TITLES = {"sam1": "SAM / MobileSAM", "sam2": "SAM 2"}
_PROMPT_INPUTS = {"point_coords", "point_labels"}
# "sam2.1_hiera_tiny.encoder.onnx", "sam2_hiera_tiny_decoder.onnx", "encoder.onnx"
_HALF_IN_NAME = re.compile(r"[._-]?(encoder|decoder)", re.IGNORECASE)


class SamModelError(EngineError):
    """A Segment Anything file that cannot be used: not ONNX, the wrong half, or a graph whose
    inputs are not the SAM contract. The message names the file and what was expected."""


@dataclass(frozen=True)
class Signature:
    """A graph's input names (with shapes; a dynamic dimension is None) and output names."""

    inputs: tuple[tuple[str, tuple[int | None, ...]], ...]
    outputs: tuple[str, ...]

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _shape in self.inputs)


def read_signature(path: str | Path) -> Signature:
    """The inputs and outputs of the ONNX graph in ``path`` (cached while the file is unchanged).

    Raises SamModelError naming the file when it is missing or not an ONNX model."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise SamModelError(f"cannot be read ({exc.strerror or exc})", path=path) from exc
    return _signature(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _signature(path: str, _mtime_ns: int, _size: int) -> Signature:
    import onnx

    try:
        # The weights stay on disk: only the graph's declared inputs and outputs are needed.
        proto = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError, onnx its own classes
        raise SamModelError(
            "is not an ONNX model (it cannot be parsed); choose the .onnx file that the SAM "
            "exporter wrote, or download it again",
            path=path,
        ) from exc
    weights = {init.name for init in proto.graph.initializer}
    inputs = tuple(
        (value.name, _shape(value)) for value in proto.graph.input if value.name not in weights
    )
    if not inputs and not proto.graph.output:
        raise SamModelError(
            "is not an ONNX model (its graph is empty); choose the .onnx file "
            "that the SAM exporter wrote",
            path=path,
        )
    return Signature(inputs, tuple(value.name for value in proto.graph.output))


def _shape(value) -> tuple[int | None, ...]:
    dims = value.type.tensor_type.shape.dim
    return tuple(
        dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None for dim in dims
    )


def identify(signature: Signature) -> tuple[Half, Layout] | None:
    """Which half of which layout a graph is, by its input and output names; None if neither."""
    names = set(signature.input_names)
    for layout, expected in DECODER_INPUTS.items():
        if names == set(expected):
            return "decoder", layout
    outputs = set(signature.outputs)
    if len(signature.inputs) == 1 and not names & _PROMPT_INPUTS:
        for layout, expected in ENCODER_OUTPUTS.items():
            if set(expected) <= outputs:
                return "encoder", layout
    return None


def check_encoder(path: str | Path) -> Layout:
    """The layout of the encoder in ``path``; SamModelError saying what is wrong otherwise."""
    signature = read_signature(path)
    found = identify(signature)
    if found is not None and found[0] == "encoder":
        return found[1]
    if found is not None or set(signature.input_names) >= _PROMPT_INPUTS:
        raise SamModelError("this is the decoder half; choose the encoder", path=path)
    raise SamModelError(
        f"is not a Segment Anything encoder: expected one image input and the outputs "
        f"{_listed(ENCODER_OUTPUTS['sam1'])} (SAM / MobileSAM) or "
        f"{_listed(ENCODER_OUTPUTS['sam2'])} (SAM 2); found inputs "
        f"{_listed(signature.input_names)} and outputs {_listed(signature.outputs)}",
        path=path,
    )


def check_decoder(path: str | Path) -> Layout:
    """The layout of the decoder in ``path``; SamModelError saying what is wrong otherwise."""
    signature = read_signature(path)
    found = identify(signature)
    if found is not None and found[0] == "decoder":
        if len(signature.outputs) < 2:
            raise SamModelError(
                f"gives only {_listed(signature.outputs)}; a SAM decoder gives masks and "
                "iou_predictions (export it with several masks)",
                path=path,
            )
        return found[1]
    if found is not None:
        raise SamModelError("this is the encoder half; choose the decoder", path=path)
    raise SamModelError(
        f"is not a Segment Anything decoder: expected the inputs "
        f"{_listed(DECODER_INPUTS['sam1'])} (SAM / MobileSAM) or "
        f"{_listed(DECODER_INPUTS['sam2'])} (SAM 2); found {_listed(signature.input_names)}",
        path=path,
    )


def check_pair(encoder: str | Path, decoder: str | Path) -> Layout:
    """Both halves checked and of the same layout; returns that layout."""
    encoder_layout, decoder_layout = check_encoder(encoder), check_decoder(decoder)
    if encoder_layout != decoder_layout:
        raise SamModelError(
            f"is a {LAYOUT_TITLES[decoder_layout]} decoder but {Path(encoder).name} is a "
            f"{LAYOUT_TITLES[encoder_layout]} encoder; choose the two files of one model",
            path=decoder,
        )
    return encoder_layout


def _listed(names) -> str:
    return ", ".join(names) if names else "(none)"


# --- the models folder ------------------------------------------------------------------------


def models_folder() -> Path:
    """Where the user puts SAM files: ``$YOLO_STUDIO_SAM_DIR``, else
    ``$XDG_DATA_HOME/yolo-studio/sam-models`` (beside the named datasets)."""
    explicit = os.environ.get("YOLO_STUDIO_SAM_DIR")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "yolo-studio" / "sam-models"


@dataclass(frozen=True)
class SamModel:
    """One encoder/decoder pair found in the models folder. ``problem`` is None when it is
    ready to load, else one sentence saying what is wrong and what to do."""

    name: str
    encoder: Path | None
    decoder: Path | None
    layout: Layout | None
    problem: str | None

    @property
    def ready(self) -> bool:
        return self.problem is None


def find_models(folder: str | Path) -> list[SamModel]:
    """The SAM pairs in ``folder`` and its direct subfolders, by the exporters' file names:
    ``<name>.encoder.onnx`` with ``<name>.decoder.onnx`` (or ``_encoder`` / ``_decoder``, or
    ``encoder.onnx`` / ``decoder.onnx`` in a folder of their own), the published pairs of
    :data:`SAM_DOWNLOADS` by their names, and else the one encoder and one decoder of a
    folder. Each is checked; a half without its partner is listed with the problem."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    models: list[SamModel] = []
    for directory in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        models.extend(_models_in(directory, folder))
    return models


def _models_in(directory: Path, root: Path) -> list[SamModel]:
    halves: dict[Half, dict[str, Path]] = {"encoder": {}, "decoder": {}}
    for path in sorted(directory.glob("*.onnx")):
        match = _HALF_IN_NAME.search(path.stem)
        if match is None or path.name.startswith("."):  # "." files are unfinished downloads
            continue
        key = (_HALF_IN_NAME.sub("", path.stem, count=1) or directory.name).lower()
        halves[match.group(1).lower()][key] = path  # type: ignore[index]
    pairs = _known_pairs(halves)
    for key in sorted(set(halves["encoder"]) & set(halves["decoder"])):
        pairs.append((key, halves["encoder"].pop(key), halves["decoder"].pop(key)))
    if len(halves["encoder"]) == 1 and len(halves["decoder"]) == 1:
        (key, encoder), (_, decoder) = halves["encoder"].popitem(), halves["decoder"].popitem()
        pairs.append((key, encoder, decoder))

    def named(key: str) -> str:  # "encoder.onnx" in "mine/" is "mine", not "mine/mine"
        if directory == root:
            return key
        return directory.name if key == directory.name.lower() else f"{directory.name}/{key}"

    models = [_checked(named(key), encoder, decoder) for key, encoder, decoder in pairs]
    models += [_alone(named(key), path, "encoder") for key, path in halves["encoder"].items()]
    models += [_alone(named(key), path, "decoder") for key, path in halves["decoder"].items()]
    return models


def _known_pairs(halves: dict[Half, dict[str, Path]]) -> list[tuple[str, Path, Path]]:
    """Published pairs whose halves have different names (MobileSAM's decoder is SAM's)."""
    pairs = []
    for name, spec in SAM_DOWNLOADS.items():
        encoder = _key_of(halves["encoder"], spec.encoder.file_name)
        decoder = _key_of(halves["decoder"], spec.decoder.file_name)
        if encoder is not None and decoder is not None:
            pairs.append((name, halves["encoder"].pop(encoder), halves["decoder"].pop(decoder)))
    return pairs


def _key_of(found: dict[str, Path], file_name: str) -> str | None:
    return next((key for key, path in found.items() if path.name == file_name), None)


def _checked(name: str, encoder: Path, decoder: Path) -> SamModel:
    try:
        layout = check_pair(encoder, decoder)
    except SamModelError as exc:
        return SamModel(name, encoder, decoder, None, str(exc))
    return SamModel(name, encoder, decoder, layout, None)


def _alone(name: str, path: Path, half: Half) -> SamModel:
    other = "decoder" if half == "encoder" else "encoder"
    guess = _HALF_IN_NAME.sub(lambda m: m.group(0).replace(m.group(1), other), path.name, 1)
    problem = (
        f"{path}: the {other} half is missing; put {guess} (from the same export) in {path.parent}"
    )
    return SamModel(
        name,
        path if half == "encoder" else None,
        path if half == "decoder" else None,
        None,
        problem,
    )


# --- published pairs --------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadFile:
    """One published file: where it is, the name it gets, its SHA-256 where one is published
    (None: only its size and that it is the right ONNX half are checked)."""

    url: str
    file_name: str
    sha256: str | None = None
    min_bytes: int = 1 << 20


@dataclass(frozen=True)
class SamDownload:
    """A published encoder/decoder pair: two files, or two members of one ``archive`` (a zip;
    then each half's ``file_name`` is its member's name, and its ``sha256`` the member's)."""

    title: str
    layout: Layout
    encoder: DownloadFile
    decoder: DownloadFile
    megabytes: int
    archive: DownloadFile | None = None

    @property
    def verified(self) -> bool:
        """Whether what is fetched is checked against a published SHA-256."""
        if self.archive is not None:
            return self.archive.sha256 is not None
        return self.encoder.sha256 is not None and self.decoder.sha256 is not None

    @property
    def urls(self) -> tuple[str, ...]:
        """What a person fetches by hand to install this pair without the app."""
        if self.archive is not None:
            return (self.archive.url,)
        return (self.encoder.url, self.decoder.url)


_XANY = "https://github.com/CVHub520/X-AnyLabeling/releases/download"
_VIETANHDEV = "https://huggingface.co/vietanhdev/segment-anything-onnx-models/resolve/main"
# MobileSAM comes as samexporter's author publishes it on Hugging Face: one zip whose SHA-256
# (the Hugging Face LFS object id, 36,655,105 bytes) and whose two members' digests are
# published. The SAM 2.1 pairs are the files X-AnyLabeling's model zoo fetches (its configs
# sam2_hiera_tiny.yaml and sam2_hiera_small.yaml); neither its release pages nor its configs
# publish SHA-256 digests for them, so none is pinned, and the dialog says "not verified".
SAM_DOWNLOADS: dict[str, SamDownload] = {
    "mobile_sam": SamDownload(
        "MobileSAM",
        "sam1",
        DownloadFile(
            "",
            "mobile_sam.encoder.onnx",
            "20deef402855b31222b528f52b04807e41ebe47216ac0e39a0729f43491a0209",
        ),
        DownloadFile(
            "",
            "sam_vit_h_4b8939.decoder.onnx",
            "22cf85e35d14182f4b4712364264c06b22edbef63f065189586f080ef4e2f325",
        ),
        megabytes=37,
        archive=DownloadFile(
            f"{_VIETANHDEV}/mobile_sam_20230629.zip",
            "mobile_sam_20230629.zip",
            "41aff2660b7531becfee21fb257c49933ddc892c554507bdb775bf504d443942",
            min_bytes=10 << 20,
        ),
    ),
    "sam2.1_hiera_tiny": SamDownload(
        "SAM 2.1 tiny",
        "sam2",
        DownloadFile(
            f"{_XANY}/v2.5.0/sam2.1_hiera_tiny.encoder.onnx", "sam2.1_hiera_tiny.encoder.onnx"
        ),
        DownloadFile(
            f"{_XANY}/v2.5.0/sam2.1_hiera_tiny.decoder.onnx", "sam2.1_hiera_tiny.decoder.onnx"
        ),
        megabytes=150,
    ),
    "sam2.1_hiera_small": SamDownload(
        "SAM 2.1 small",
        "sam2",
        DownloadFile(
            f"{_XANY}/v2.5.0/sam2.1_hiera_small.encoder.onnx", "sam2.1_hiera_small.encoder.onnx"
        ),
        DownloadFile(
            f"{_XANY}/v2.5.0/sam2.1_hiera_small.decoder.onnx", "sam2.1_hiera_small.decoder.onnx"
        ),
        megabytes=180,
    ),
}


def download_sam(
    name: str,
    folder: str | Path,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
    *,
    downloads: Mapping[str, SamDownload] | None = None,
) -> SamModel:
    """Download the published pair ``name`` into ``folder`` and return it, checked.

    The files (or their zip) stream through the engine's one download (progress events,
    SHA-256 where published, atomic write) under hidden names; a zip is unpacked with the safe
    extractor and its two members checked against their own digests. Both halves are checked
    as the right ONNX graphs, and only then take their real names: a failed, cancelled or
    interrupted download leaves nothing behind. ``downloads`` replaces :data:`SAM_DOWNLOADS`
    (a mirror, or a test's local server).
    """
    catalogue = SAM_DOWNLOADS if downloads is None else downloads
    if name not in catalogue:
        raise SamModelError(f"unknown SAM download '{name}'; known: {_listed(sorted(catalogue))}")
    spec, folder = catalogue[name], Path(folder)
    staged = {
        folder / f".{file.file_name}.download": (file, folder / file.file_name)
        for file in (spec.encoder, spec.decoder)
    }
    try:
        if spec.archive is None:
            _fetch_halves(spec, staged, progress, cancel)
        else:
            _fetch_archive(spec.archive, staged, folder, progress, cancel)
        check_pair(*staged)
        for temporary, (_file, target) in staged.items():
            temporary.replace(target)
    except SamModelError as exc:
        raise _as_download_error(exc, staged, spec.archive) from exc
    finally:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
    encoder, decoder = (target for _file, target in staged.values())
    return SamModel(name, encoder, decoder, spec.layout, None)


_Staged = dict[Path, tuple[DownloadFile, Path]]


def _fetch_halves(
    spec: SamDownload, staged: _Staged, progress: Reporter, cancel: CancelToken
) -> None:
    for temporary, (file, target) in staged.items():
        half = "encoder" if file is spec.encoder else "decoder"
        download_file(
            file.url,
            temporary,
            progress=progress,
            min_bytes=file.min_bytes,
            what=f"a SAM {half} ONNX file",
            error=SamModelError,
            cancel=cancel,
            sha256=file.sha256,
            shown_as=target,
        )


def _fetch_archive(
    archive: DownloadFile,
    staged: _Staged,
    folder: Path,
    progress: Reporter,
    cancel: CancelToken,
) -> None:
    """Download the zip, unpack it safely beside the models, and stage its two members."""
    from ..utils.safe_zip import extract_zip

    download = folder / f".{archive.file_name}.download"
    unpacked = folder / f".{archive.file_name}.unpacked"
    try:
        download_file(
            archive.url,
            download,
            progress=progress,
            min_bytes=archive.min_bytes,
            expect_magic=b"PK",
            what="a zip of SAM ONNX files",
            error=SamModelError,
            cancel=cancel,
            sha256=archive.sha256,
            shown_as=folder / archive.file_name,
            manual=(
                f"On a machine with internet access, download {archive.url}, unzip it, and "
                f"put {' and '.join(f.file_name for f, _t in staged.values())} in the "
                f"folder {folder}."
            ),
        )
        shutil.rmtree(unpacked, ignore_errors=True)  # left by a process that was killed
        try:
            extract_zip(download, unpacked, max_bytes=4 << 30, max_members=1000)
        except EngineError as exc:
            raise SamModelError(exc.message, path=download) from exc
        for temporary, (file, _target) in staged.items():
            member = _member(unpacked, file.file_name, download)
            _check_digest(member, file.sha256, temporary)
            member.replace(temporary)
    finally:
        download.unlink(missing_ok=True)
        shutil.rmtree(unpacked, ignore_errors=True)


def _member(unpacked: Path, file_name: str, archive: Path) -> Path:
    found = sorted(path for path in unpacked.rglob(file_name) if path.is_file())
    if not found:
        raise SamModelError(f"holds no {file_name}; the published zip has changed", path=archive)
    return found[0]


def _check_digest(path: Path, sha256: str | None, named: Path) -> None:
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != sha256.lower():
        raise SamModelError(
            f"has SHA-256 {digest.hexdigest()}, not the expected {sha256}: the zip holds "
            "another file than the one published",
            path=named,
        )


def _as_download_error(
    exc: SamModelError, staged: _Staged, archive: DownloadFile | None
) -> SamModelError:
    """The error named after the file being downloaded (not its hidden staging name), with
    where it came from and that nothing was kept."""
    named = {temporary: (file.url, target) for temporary, (file, target) in staged.items()}
    if archive is not None:
        folder = next(iter(staged)).parent
        named = {temporary: (archive.url, target) for temporary, (_u, target) in named.items()}
        named[folder / f".{archive.file_name}.download"] = (archive.url, folder / archive.file_name)
    for temporary, (url, target) in named.items():
        if exc.path == str(temporary):
            return SamModelError(
                f"{exc.message} (downloaded from {url}; nothing was kept)", path=target
            )
    return exc
