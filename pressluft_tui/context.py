"""The narrow face of the console that screens and controllers see.

Screens and controllers need a handful of things from the running app: the core, the
session token, toasts, pushing a screen (with a callback for its result), running a named
worker, posting a message, the current screen, and running an action of the table. This
module names exactly that as :class:`ConsoleContext`, so nothing below the app depends on
``PressluftApp`` and the app is the only place that knows every piece. It imports only the
standard library and :mod:`pressluft_core`: importing it pulls in no Textual and nothing
else of the console (``tests/tui/test_architecture.py`` checks), which keeps the import
graph one-way — app → controllers → screens → context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, wraps
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Literal,
    ParamSpec,
    Protocol,
    TypeVar,
    runtime_checkable,
)

if TYPE_CHECKING:
    from pressluft_core.app import Pressluft
    from pressluft_core.records import JobRecord

Severity = Literal["information", "warning", "error"]
P = ParamSpec("P")
C = TypeVar("C", bound="HasContext")


class NothingSelected(LookupError):
    """An action needs a row the screen has not got (an empty table): nothing happens."""


@dataclass(frozen=True)
class Selection:
    """What an action acts on: the screen's subject and its selected row (from a key), or
    the object a palette command names. Only the fields that apply are set."""

    site_id: str | None = None
    environment_id: str | None = None
    node_id: str | None = None
    backup_id: str | None = None
    domain_id: str | None = None
    setting: str | None = None
    job: JobRecord | None = None

    def env(self) -> tuple[str, str]:
        """(site id, environment id), for the many actions on one environment."""
        if self.site_id is None or self.environment_id is None:
            raise NothingSelected("environment")
        return self.site_id, self.environment_id

    def need(self, name: str) -> Any:
        """One field the action cannot do without (``node_id``, ``job`` …)."""
        value = getattr(self, name)
        if value is None:
            raise NothingSelected(name)
        return value


@runtime_checkable
class ConsoleContext(Protocol):
    """What :class:`~pressluft_tui.app.PressluftApp` offers screens and controllers."""

    core: Pressluft
    token: str | None

    @property
    def screen(self) -> Any: ...  # the screen on top (a Textual Screen)

    def notify(self, message: str, *, title: str = "", severity: Severity = "information",
               timeout: float | None = None, markup: bool = True) -> None: ...

    def push_screen(self, screen: Any, callback: Callable[[Any], Any] | None = None,
                    wait_for_dismiss: bool = False) -> Any: ...

    def replace_stack(self, screen: Any) -> None:
        """Everything above the base screen goes; ``screen`` is pushed instead."""

    def show_home(self) -> None: ...

    def run_worker(self, work: Callable[[], Any], name: str | None = "",
                   group: str = "default", description: str = "",
                   exit_on_error: bool = True, start: bool = True, exclusive: bool = False,
                   thread: bool = False) -> Any: ...

    def call_from_thread(self, callback: Callable[..., Any], *args: Any,
                         **kwargs: Any) -> Any: ...

    def post_message(self, message: Any) -> bool: ...

    def perform(self, action_id: str, selection: Selection) -> None:
        """Run the action ``action_id`` of the table on ``selection``."""


def context_of(app: object) -> ConsoleContext:
    """``self.app`` of a screen or provider, as the context (checked, not assumed)."""
    if not isinstance(app, ConsoleContext):
        raise TypeError(f"{type(app).__name__} is not a Pressluft console")
    return app


class HasContext(Protocol):
    @property
    def ctx(self) -> ConsoleContext: ...


class WithContext:
    """``core`` and ``token`` from ``self.ctx``, for controllers (given the context) and
    screens (reading ``self.app``) alike."""

    @property
    def ctx(self) -> ConsoleContext:
        raise NotImplementedError

    @property
    def core(self) -> Pressluft:
        return self.ctx.core

    @property
    def token(self) -> str:
        """The session token ("" before login: the core then refuses with AuthError)."""
        return self.ctx.token or ""


def in_worker(group: str, *, exclusive: bool = True
              ) -> Callable[[Callable[Concatenate[C, P], object]],
                            Callable[Concatenate[C, P], None]]:
    """Textual's ``@work(thread=True, exclusive=…, group=…, exit_on_error=False)`` for
    objects that are not DOM nodes (controllers): the method runs in a named thread worker
    of the app, so its errors reach the app's one handler as they always did."""

    def decorate(method: Callable[Concatenate[C, P], object]
                 ) -> Callable[Concatenate[C, P], None]:
        @wraps(method)
        def start(self: C, *args: P.args, **kwargs: P.kwargs) -> None:
            self.ctx.run_worker(partial(method, self, *args, **kwargs), name=method.__name__,
                                group=group, exclusive=exclusive, thread=True,
                                exit_on_error=False)

        return start

    return decorate
