"""Release trees on disk: permissions, the links to shared config and uploads, checked
archive extraction and the tree digest drift compares.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .._common import Refused, run
from .env import Env


def fix_release_permissions(release: Path) -> None:
    run(["chown", "-R", "--no-dereference", "root:root", str(release)])
    run(["chmod", "-R", "u=rwX,go=rX", str(release)])


def link_shared(env: Env, release: Path) -> None:
    """Point the release at the environment's own config and uploads."""
    content = release / "wp-content"
    content.mkdir(exist_ok=True)
    uploads = content / "uploads"
    if uploads.is_symlink() or uploads.is_file():
        uploads.unlink()
    elif uploads.is_dir():
        shutil.rmtree(uploads)
    uploads.symlink_to(env.shared / "uploads")
    config = release / "wp-config.php"
    if config.is_symlink() or config.exists():
        config.unlink()
    config.symlink_to(env.shared / "wp-config.php")


def safe_extract(archive: Path, dest: Path) -> None:
    """Unpack a .tar.gz/.tar.zst/.zip refusing members that would land outside ``dest``
    (absolute names, ``..``, links pointing out) and anything but files, dirs, symlinks."""
    dest_real = os.path.realpath(dest)

    def check(name: str, link: str | None = None) -> None:
        if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
            raise Refused(f"archive member {name!r} would be written outside the release")
        if re.search(r"[\x00-\x1f\x7f]", name):
            raise Refused(f"archive member {name!r} has a control character in its name")
        if link is not None:
            target = os.path.normpath(os.path.join(dest_real, os.path.dirname(name), link))
            if link.startswith("/") or not (target + "/").startswith(dest_real + "/"):
                raise Refused(f"archive member {name!r} links outside the release ({link})")

    name = archive.name
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                check(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise Refused(f"archive member {info.filename!r} is a symlink (not "
                                  "allowed in zip archives)")
            zf.extractall(dest)
        return
    if name.endswith(".tar.zst"):
        plain = dest.parent / (dest.name + ".tar")
        run(["zstd", "-q", "-d", "-f", str(archive), "-o", str(plain)])
        archive = plain
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        tree = TreeGuard()
        for member in members:
            if member.issym():
                check(member.name, member.linkname)
            elif member.islnk():
                check(member.name)
                check(member.linkname)
            elif member.isfile() or member.isdir():
                check(member.name)
            else:
                raise Refused(f"archive member {member.name!r} is a device or fifo")
            tree.check_links(member)
        for member in members:
            member.mode = (member.mode | 0o644) & 0o755
            member.uid = member.gid = 0
            member.uname = member.gname = "root"
        tf.extractall(dest, members=members)
    if archive.name.endswith(".tar") and archive.parent == dest.parent:
        archive.unlink()


def files_under(root: Path) -> Iterator[tuple[str, str, os.stat_result]]:
    """(path relative to ``root``, full path, lstat) of every file under ``root``, in one
    order whatever the file system's (a digest over them must not change by itself)."""
    for base, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(base, name)
            stat = os.lstat(full)
            yield os.path.relpath(full, root), full, stat


def tree_digest(path: Path) -> dict:
    """Count, bytes and a digest over (path, size, mtime) of every file under ``path``."""
    digest = hashlib.sha256()
    files = size = 0
    if path.is_dir():
        for rel, _, stat in files_under(path):
            digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode(
                errors="surrogateescape"))
            files += 1
            size += stat.st_size
    return {"files": files, "bytes": size, "sha256": digest.hexdigest()}


def check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in Path(name).parts or "\0" in name:
        raise Refused(f"archive member {name!r} would be written outside its place")
    if re.search(r"[\x00-\x1f\x7f]", name):
        raise Refused(f"archive member {name!r} has a control character (a newline?) in "
                      "its name")
    if member.issym():
        link = member.linkname
        target = os.path.normpath(os.path.join("/x", os.path.dirname(name), link))
        if link.startswith("/") or not target.startswith("/x/"):
            raise Refused(f"archive member {name!r} links outside ({link})")
    elif member.islnk() or not (member.isfile() or member.isdir()):
        raise Refused(f"archive member {name!r} is not a file, directory or symlink")


class TreeGuard:
    """:func:`check_member` plus what only the whole archive shows: a symlink may point at
    its own directory or below (no ``..``), and nothing is written through one. Otherwise
    ``d -> .`` then ``e -> d/d/../..`` passes a per-member check and ``e/x`` lands above
    the tree."""

    def __init__(self) -> None:
        self.links: set[str] = set()

    def check(self, member: tarfile.TarInfo) -> None:
        check_member(member)
        self.check_links(member)

    def check_links(self, member: tarfile.TarInfo) -> None:
        parts = Path(member.name).parts
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in self.links:
                raise Refused(f"archive member {member.name!r} would be written through the "
                              f"symlink {'/'.join(parts[:depth])!r}")
        if member.issym():
            if ".." in Path(member.linkname).parts:
                raise Refused(f"archive member {member.name!r} links upwards "
                              f"({member.linkname})")
            self.links.add("/".join(parts))
