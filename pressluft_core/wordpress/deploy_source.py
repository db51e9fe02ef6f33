"""What a deploy may come from, checked before a job is queued (the node checks again).

A git repository is an ``https``/``http``/``ssh``/``git``/``file`` URL, an scp-like
``user@host:path`` or an absolute path on the node; a ref is a branch, tag or commit. An
archive is a ``.tar.gz``/``.tgz``/``.tar.zst``/``.zip`` file on this machine; its members
are checked for path traversal on the node, where it is unpacked.
"""

from __future__ import annotations

import os
import re

from pressluft_core.errors import ValidationError

GIT_URL_RE = re.compile(
    r"(?:(?:https?|ssh|git|file)://[^\s'\"`$;&|<>\\]+"
    r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._/~-]+"
    r"|/[A-Za-z0-9._/-]+)")
GIT_REF_RE = re.compile(r"[A-Za-z0-9._/-]{1,200}")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar.zst", ".zip")
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024


def check_git_url(field: str, value: str) -> str:
    if not isinstance(value, str) or len(value) > 500 or not GIT_URL_RE.fullmatch(value) \
            or value.startswith("-") or ("/../" in value + "/" and value.startswith("/")):
        raise ValidationError(field, f"{value!r} is not a git repository URL (https://, "
                                     "ssh://, git://, file://, user@host:path or /path)")
    if re.match(r"[a-z]+://[^/]*@", value) and value.startswith("http"):
        raise ValidationError(field, "must not carry credentials: use a deploy key")
    return value


def check_git_ref(field: str, value: str) -> str:
    if not isinstance(value, str) or not GIT_REF_RE.fullmatch(value) or \
            value.startswith(("-", "/")) or ".." in value or value.endswith((".lock", "/")):
        raise ValidationError(field, f"{value!r} is not a branch, tag or commit name")
    return value


def check_archive(field: str, path: str) -> str:
    if not path.endswith(ARCHIVE_SUFFIXES):
        raise ValidationError(field, f"{path!r} is not a .tar.gz, .tgz, .tar.zst or .zip "
                                     "archive")
    if not os.path.isfile(path):
        raise ValidationError(field, f"{path!r} is not a file")
    size = os.path.getsize(path)
    if size > MAX_ARCHIVE_BYTES:
        raise ValidationError(field, f"{path!r} is {size // 2**20} MiB; the limit is "
                                     f"{MAX_ARCHIVE_BYTES // 2**20} MiB (deploy from git)")
    return path


INTO_RE = re.compile(r"(themes|plugins|mu-plugins)/[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def check_into(field: str, value: str) -> str:
    """Where a repository that is one theme or plugin goes in wp-content."""
    if not isinstance(value, str) or not INTO_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not themes/NAME, plugins/NAME or "
                                     "mu-plugins/NAME")
    return value
