"""The node package (:mod:`pressluft_core.node.ctl`) built into one zipapp, for upload.

Nodes get one file, ``<sha256[:16]>-pressluft-node.pyz`` (``Session.upload_helper``), and
need nothing but ``python3`` to run it. The build is deterministic (the files in name
order, a fixed timestamp and mode, stored uncompressed, so no zlib version can change a
byte): the same source gives the same bytes, hence the same checksum name, so a node
keeps the copy it has until the code changes.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

NAME = "pressluft-node.pyz"
PACKAGE = "ctl"
SOURCE = Path(__file__).resolve().parent / PACKAGE
MAIN = (b"import sys\n\nfrom ctl.main import main\n\n"
        b"sys.exit(main(sys.argv))\n")
STAMP = (2024, 1, 1, 0, 0, 0)


def _entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.create_system = 3  # Unix, whatever the building machine is
    archive.writestr(info, data)


def build(source: Path = SOURCE) -> bytes:
    """The zipapp's bytes: ``__main__.py`` and every ``.py`` of the package."""
    files = sorted(p for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        _entry(archive, "__main__.py", MAIN)
        for path in files:
            name = f"{PACKAGE}/{path.relative_to(source).as_posix()}"
            _entry(archive, name, path.read_bytes())
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def archive() -> bytes:
    """:func:`build` of the installed source, once per process."""
    return build()


def local_copy(directory: Path | None = None) -> str:
    """The zipapp as a file named as ``upload_helper`` names it on a node, written once
    (atomically, 0644 in a 0755 directory): for the tests and benchmarks that run node
    commands on this machine, as root or as an environment's user."""
    data = archive()
    folder = directory or Path(tempfile.gettempdir()) / "pressluft-node"
    folder.mkdir(mode=0o755, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}-{NAME}"
    if not path.is_file() or path.read_bytes() != data:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{NAME}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    return str(path)


def command(tool: str, directory: Path | None = None) -> list[str]:
    """``[python, <local copy>, tool]``: a node tool run on this machine."""
    return [sys.executable, local_copy(directory), tool]
