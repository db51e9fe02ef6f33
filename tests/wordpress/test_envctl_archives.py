"""The node-side archive checks (envctl's ``safe_extract``), on crafted archives: every
member that would land outside the release is refused before anything is written."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from pressluft_core.node.ctl._common import Refused
from pressluft_core.node.ctl.envctl.files import safe_extract


def make_tar(path: Path, *members: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            tf.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


def info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = link
    member.size = 1 if kind == tarfile.REGTYPE else 0
    return member


@pytest.mark.parametrize(("member", "why"), [
    (info("../evil.php"), "outside the release"),
    (info("themes/../../evil.php"), "outside the release"),
    (info("/etc/cron.d/evil"), "outside the release"),
    (info("themes/link", tarfile.SYMTYPE, "/etc/passwd"), "links outside"),
    (info("themes/link", tarfile.SYMTYPE, "../../../../etc"), "links outside"),
    (info("themes/hard", tarfile.LNKTYPE, "../../etc/passwd"), "outside the release"),
    (info("themes/dev", tarfile.CHRTYPE), "device or fifo"),
    (info("themes/fifo", tarfile.FIFOTYPE), "device or fifo"),
])
def test_hostile_tar_members_are_refused_and_nothing_is_written(
        tmp_path: Path, member: tarfile.TarInfo, why: str) -> None:
    archive = make_tar(tmp_path / "deploy.tar.gz", info("themes/ok.txt"), member)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Refused, match=why):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.php").exists()


def test_links_inside_the_release_and_plain_files_are_unpacked(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "deploy.tar.gz", info("themes/a/style.css"),
                       info("themes/b", tarfile.SYMTYPE, "a"))
    dest = tmp_path / "dest"
    dest.mkdir()
    safe_extract(archive, dest)
    assert (dest / "themes" / "a" / "style.css").read_bytes() == b"x"
    assert (dest / "themes" / "b").is_symlink()


def test_zip_traversal_and_symlinks_are_refused(tmp_path: Path) -> None:
    traversal = tmp_path / "t.zip"
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("themes/ok.txt", "ok")
        zf.writestr("../../evil.php", "<?php")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Refused, match="outside the release"):
        safe_extract(traversal, dest)
    link = tmp_path / "l.zip"
    with zipfile.ZipFile(link, "w") as zf:
        entry = zipfile.ZipInfo("themes/link")
        entry.external_attr = (0o120777 << 16)
        zf.writestr(entry, "/etc/passwd")
    with pytest.raises(Refused, match="symlink"):
        safe_extract(link, dest)
    assert list(dest.iterdir()) == []


def test_a_symlink_chain_that_resolves_above_the_tree_is_refused(tmp_path: Path) -> None:
    """Each link looks inside on its own (``d -> .``, ``e -> d/d/../..`` normalizes to the
    tree), together they point above it; a member written through ``e`` would escape."""
    archive = make_tar(tmp_path / "chain.tar.gz", info("themes/d", tarfile.SYMTYPE, "."),
                       info("themes/e", tarfile.SYMTYPE, "d/d/../.."), info("themes/e/x"))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Refused, match="links upwards"):
        safe_extract(archive, dest)
    through = make_tar(tmp_path / "through.tar.gz", info("themes/d", tarfile.SYMTYPE, "sub"),
                       info("themes/d/x.php"))
    with pytest.raises(Refused, match="through the symlink 'themes/d'"):
        safe_extract(through, dest)
    assert not any(dest.iterdir())


def test_a_newline_in_a_member_name_is_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "nl.tar.gz", info("themes/a\nb.php"))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(Refused, match="control character"):
        safe_extract(archive, dest)
