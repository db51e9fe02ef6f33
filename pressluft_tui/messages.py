"""Messages the console passes around: small dataclasses (``Message.__post_init__``
initialises the base, so a dataclass needs nothing more).

``DataChanged`` is posted on every job event and poll hit; ``can_replace`` collapses a
burst of them into one refresh.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


# The app hands it to the visible screen; bubbling back up to the app would make the app
# hand it on again, for ever (a reload every frame; a modal spins a core at full speed).
@dataclass
class DataChanged(Message, bubble=False):
    """Something the screens show may have changed (a job moved, a resource changed)."""

    job_id: str | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DataChanged)


@dataclass
class LoggedIn(Message):
    token: str


@dataclass
class JobFailed(Message):
    """A job failed (heard from this process's job bus)."""

    job_id: str
