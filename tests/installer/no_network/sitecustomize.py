"""Refuses and records network use in every Python process started with this folder on
PYTHONPATH (tests/installer): Python imports ``sitecustomize`` at start-up, and this one adds an
audit hook (PEP 578) that refuses socket connections, datagrams and host-name look-ups, except
on local (AF_UNIX) sockets, and appends one JSON line per attempt to the file that
``YOLO_STUDIO_NETWORK_LOG`` names (and one line per process watched to ``<that>.processes``).
Child processes inherit PYTHONPATH, so the training and export children of ``yolo`` and
``yolo-studio`` are watched as well.

It sees what Python code does (urllib, http.client, socket); a library that opens sockets from
C is caught by running the same command in a network namespace too (tests/installer/sandbox.py).
"""

import json
import os
import socket
import sys
import traceback

_LOG = os.environ.get("YOLO_STUDIO_NETWORK_LOG", "")
_ADDRESSED = {"socket.connect", "socket.sendto", "socket.sendmsg"}
_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
            "socket.gethostbyaddr", "socket.getnameinfo"}


class NetworkBlocked(PermissionError):
    """What a refused call raises (an OSError, as a failed connection would)."""


def _record(event: str, args: tuple) -> None:
    if not _LOG:
        return
    entry = {"event": event, "args": repr(args)[:300], "pid": os.getpid(),
             "argv": sys.orig_argv[:6], "stack": traceback.format_stack(limit=12)[:-2]}
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def _hook(event: str, args: tuple) -> None:
    if not event.startswith(("socket.", "urllib.")):
        return
    if event in _ADDRESSED:
        sock = args[0]
        if getattr(sock, "family", None) == socket.AF_UNIX:
            return
    elif event not in _LOOKUPS and event != "urllib.Request":
        return
    _record(event, args)
    if event != "urllib.Request":  # recorded; its connect is refused just after
        raise NetworkBlocked(f"network use blocked by tests/installer/no_network: {event}")


def _watched() -> None:
    """One line per process watched (``<log>.processes``): the tests check that the commands
    they ran were, so that an empty log means something."""
    if _LOG:
        with open(_LOG + ".processes", "a", encoding="utf-8") as log:
            # the interpreter's own command line: sys.argv is not set up yet for `-m module`
            log.write(json.dumps({"pid": os.getpid(), "argv": sys.orig_argv[:6]}) + "\n")


sys.addaudithook(_hook)
_watched()
