"""Input checks shared by every service; each error names the field it refuses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from pressluft_core.errors import ValidationError

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,38}")
HOSTNAME_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
UNIX_USER_RE = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
NODE_PATH_RE = re.compile(r"/[A-Za-z0-9/._-]{0,4094}")
MAX_NAME_LENGTH = 200


def _shown(value: object) -> str:
    """A refused value, quoted and cut short so an error message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def slug(field: str, value: object) -> str:
    if not isinstance(value, str) or not SLUG_RE.fullmatch(value):
        raise ValidationError(
            field,
            f"{_shown(value)} is not a valid slug: use 1-39 characters of a-z, 0-9 and '-', "
            "starting with a letter or digit",
        )
    return value


def hostname(field: str, value: object) -> str:
    """RFC 1123 host name (letters, digits, hyphens; labels ≤ 63; total ≤ 253) or an IP."""
    # No IPv6 scope ids ("fe80::1%<anything>"): ipaddress accepts any text after the '%'.
    if isinstance(value, str) and "%" not in value:
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
    if (
        not isinstance(value, str)
        or not value
        or len(value) > 253
        or not all(HOSTNAME_LABEL_RE.fullmatch(label) for label in value.rstrip(".").split("."))
    ):
        raise ValidationError(
            field,
            f"{_shown(value)} is not a valid host name (RFC 1123: labels of letters, digits "
            "and '-', at most 63 characters each, 253 in all)",
        )
    return value.rstrip(".").lower()


def ipv4(field: str, value: object) -> str:
    try:
        return str(ipaddress.IPv4Address(value))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise ValidationError(field, f"{_shown(value)} is not an IPv4 address") from None


def port(field: str, value: object) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValidationError(field, f"{_shown(value)} is not a port number") from None
    if not 1 <= number <= 65535:
        raise ValidationError(field, f"{number} is not a port number (1-65535)")
    return number


def unix_user(field: str, value: object) -> str:
    if not isinstance(value, str) or not UNIX_USER_RE.fullmatch(value):
        raise ValidationError(field, f"{_shown(value)} is not a valid Unix user name")
    return value


def display_name(field: str, value: object) -> str:
    """Free text shown to people: any printable text, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise ValidationError(field, f"is {len(value)} characters long; the limit is "
                                     f"{MAX_NAME_LENGTH}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationError(field, "must not contain control characters")
    return value.strip()


def email(field: str, value: object) -> str:
    if not isinstance(value, str) or not EMAIL_RE.fullmatch(value):
        raise ValidationError(field, f"{_shown(value)} is not an email address")
    return value.lower()


def one_of(field: str, value: object, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValidationError(field, f"{_shown(value)} is not one of: {', '.join(allowed)}")
    return value  # type: ignore[return-value]


def absolute_path(field: str, value: object) -> str:
    """An absolute path on a node, made only of ``[A-Za-z0-9/._-]`` and without ``..``: such
    a path means the same thing to every shell, tool and config file it ends up in."""
    if (not isinstance(value, str) or not NODE_PATH_RE.fullmatch(value)
            or ".." in value.split("/") or not value.strip("/")):
        raise ValidationError(
            field,
            f"{_shown(value)} is not a valid path: use an absolute path (not /) of A-Z, a-z, "
            "0-9, '/', '.', '_' and '-', without '..'",
        )
    return value.rstrip("/")
