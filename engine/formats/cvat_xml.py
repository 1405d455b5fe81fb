"""The XML of a CVAT file: bytes parsed into an element tree that knows each element's line
(for reports; ElementTree keeps none), entity declarations refused, and lines that are not
UTF-8 read with U+FFFD so one misencoded name does not lose the whole file."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name
from xml.parsers import expat

from ..errors import DatasetError
from .labelset import Problem

__all__ = ["parse_xml", "utf8_or_replaced"]

_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def parse_xml(data: bytes, source: Path) -> tuple[ET.Element, dict[int, int]]:
    """The element tree of ``data`` and each element's line (keyed by ``id(element)``).

    ElementTree elements built by expat, the parser ElementTree itself uses, driven here so the
    line of every element is known for reports (ElementTree keeps none). Expat never fetches
    external entities and (2.4.1 and later, as the Python docs note) bounds entity expansion;
    CVAT declares no entities, so any declaration is refused outright. A syntax error raises
    DatasetError naming the file and line.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    lines: dict[int, int] = {}

    def start(tag: str, attributes: dict[str, str]) -> None:
        lines[id(builder.start(tag, attributes))] = parser.CurrentLineNumber

    def refuse_entity(name: str, *_: object) -> None:
        raise DatasetError(f"declares the entity {name!r}: CVAT never writes entities, and "
                           "this reader expands none; remove the DOCTYPE",
                           path=source, line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse_entity
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DatasetError(f"not well-formed XML ({expat.ErrorString(exc.code)}, column "
                           f"{exc.offset + 1}); fix the file or export it from CVAT again",
                           path=source, line=exc.lineno) from exc
    return builder.close(), lines


def utf8_or_replaced(data: bytes, source: Path, problems: list[Problem]) -> bytes:
    """``data`` as UTF-8: unchanged when it is UTF-8 or declares another encoding (expat
    decodes that); else each line that is not UTF-8 gets a warning and its bad bytes become
    U+FFFD, so one misencoded image name does not lose the whole file."""
    declared = _ENCODING.match(data)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    fixed = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(str(source), f"line {number}", "not UTF-8 (the file says "
                                    "it is): its bad bytes read as U+FFFD; save the file as "
                                    "UTF-8", severity="warning"))
            line = line.decode("utf-8", errors="replace").encode("utf-8")
        fixed.append(line)
    return b"\n".join(fixed)
