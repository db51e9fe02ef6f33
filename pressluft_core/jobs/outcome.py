"""How an attempt ended, as a stable error code and an operator's sentence: the one map
from exceptions (the job's own, the SSH layer's, cancellation) to ``jobs.error_code``."""

from __future__ import annotations

import asyncio

from pressluft_core.errors import PressluftError
from pressluft_core.jobs.errors import JobFailure


def classify(exc: BaseException, cancel_reason: str | None) -> tuple[str, str]:
    """Map whatever ended an attempt to a stable error code and an operator's sentence."""
    from pressluft_core.remote import errors as remote

    if cancel_reason == "timeout" and not isinstance(exc, JobFailure):
        return "JOB_TIMEOUT", "the job ran past its time limit and was stopped"
    if cancel_reason in ("cancelled", "lost") or isinstance(exc, remote.RemoteCancelled):
        return "CANCELLED", "the job was cancelled; its remote process was stopped"
    if isinstance(exc, JobFailure):
        return exc.code, exc.message
    for kind, code in ((remote.HostKeyChanged, "HOST_KEY_CHANGED"),
                       (remote.AuthenticationFailed, "SSH_AUTH_FAILED"),
                       (remote.HostUnreachable, "NODE_UNREACHABLE"),
                       (remote.ConnectionLost, "CONNECTION_LOST"),
                       (remote.RemoteTimeout, "JOB_TIMEOUT")):
        if isinstance(exc, kind):
            return code, str(exc)
    if isinstance(exc, PressluftError):
        return "PRECONDITION", str(exc)
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED", "the job was interrupted"
    return "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}"
