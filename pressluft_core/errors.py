"""Errors an operator can act on.

Every expected failure is a :class:`PressluftError` with a stable ``code`` and a sentence
that names what is wrong; the CLI turns them into exit status 2 (bad input) or 1, and the
console into a notification. Anything else is a bug and is allowed to surface as one.
"""

from __future__ import annotations


class PressluftError(Exception):
    """Base for expected errors; ``exit_status`` is what the CLI exits with."""

    code = "ERROR"
    exit_status = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(PressluftError):
    """Input was refused; ``field`` names the offending field."""

    code = "VALIDATION"
    exit_status = 2

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFoundError(PressluftError):
    code = "NOT_FOUND"
    exit_status = 2


class ConflictError(PressluftError):
    """A write lost a race: the row changed since it was read (stale ``state_version``)."""

    code = "CONFLICT"


class StateError(PressluftError):
    """The resource is in a state that does not allow the operation."""

    code = "STATE"
    exit_status = 2


class AuthError(PressluftError):
    """Not logged in, wrong credentials, expired or revoked session, or throttled."""

    code = "AUTH"
    exit_status = 2


class SecretError(PressluftError):
    code = "SECRET"
