"""What every service shares: the runtime, the acting user, and the mutation contract.

A mutation (DESIGN.md §3) authenticates the caller, validates, writes its rows and its job
in one transaction, and is audited whether it succeeds or is refused. :func:`mutation`
does all but the validation and the writes, so no service can forget the audit row.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

import peewee

from pressluft_core.clock import Clock, new_id, to_iso
from pressluft_core.db import write_transaction
from pressluft_core.errors import PressluftError
from pressluft_core.models import AuditLog
from pressluft_core.paths import Paths
from pressluft_core.records import Actor
from pressluft_core.secrets import SecretStore

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class Runtime:
    paths: Paths
    db: peewee.Database
    clock: Clock
    secrets: SecretStore

    def now(self) -> str:
        return to_iso(self.clock.now())


class TokenCheck(Protocol):
    """All a service needs of authentication: whose session a token is (raising
    ``AuthError`` when none). A protocol, so this module, which every service builds on,
    does not import ``AuthService``, which builds on it too."""

    def require(self, token: str) -> Actor: ...


class Service:
    def __init__(self, rt: Runtime, auth: TokenCheck) -> None:
        self.rt = rt
        self.auth = auth


def _audit_text(text: str, limit: int) -> str:
    """Refused input lands here verbatim: escape control characters (PostgreSQL refuses NUL
    in text; a newline would forge a second line in a log view) and bound the length."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:limit]


def write_audit(rt: Runtime, actor_user_id: str, action: str, resource_type: str,
                resource_id: str, result: str) -> None:
    AuditLog.insert(
        id=new_id(), user_id=actor_user_id, action=action, resource_type=resource_type,
        resource_id=_audit_text(resource_id or "-", 200), result=_audit_text(result, 500),
        created_at=rt.now(),
    ).execute()


def mutation(
    action: str,
    resource_type: str,
    resource_id: Callable[[Any], str] = lambda result: result.id,
    target: str | None = None,
) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Wrap a service method ``fn(self, actor, …)`` into ``method(self, token, …)``.

    ``resource_id`` reads the audited id from the result; ``target`` names the argument
    that identifies the resource when the call is refused before there is a result.
    """

    def decorate(fn: Callable[..., R]) -> Callable[..., R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(self: Service, token: str, *args: Any, **kwargs: Any) -> R:
            actor: Actor = self.auth.require(token)
            try:
                with write_transaction(self.rt.db):
                    result = fn(self, actor, *args, **kwargs)
                    write_audit(self.rt, actor.user_id, action, resource_type,
                                resource_id(result), "ok")
                return result
            except PressluftError as exc:
                outcome = f"refused: {exc}"
                error: BaseException = exc
            except Exception as exc:
                outcome = f"error: {type(exc).__name__}"
                error = exc
            hint = "-"
            if target:
                bound = signature.bind_partial(self, actor, *args, **kwargs)
                hint = str(bound.arguments.get(target) or "-")
            with write_transaction(self.rt.db):
                write_audit(self.rt, actor.user_id, action, resource_type, hint, outcome)
            raise error

        return wrapper

    return decorate
