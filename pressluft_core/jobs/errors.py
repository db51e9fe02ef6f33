"""Stable job error codes and the exception a job fails with.

``jobs.error_code`` only ever holds a code from :data:`ERROR_CODES`; docs/jobs.md lists the
same table for operators. Whether a failure is retried is decided by
:class:`pressluft_core.jobs.retry.RetryStrategy`, from the code's ``retryable`` flag.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    code: str
    retryable: bool
    meaning: str


ERROR_CODES: dict[str, ErrorCode] = {c.code: c for c in [
    ErrorCode("NODE_UNREACHABLE", True, "the node did not answer on its SSH port"),
    ErrorCode("CONNECTION_LOST", True, "the SSH connection dropped while a step ran"),
    ErrorCode("WORKER_LOST", True, "the worker running the job stopped (crash, kill, "
                                   "shutdown); the lease expired and the job was taken back"),
    ErrorCode("STEP_RETRYABLE", True, "a step failed and said it may be retried"),
    ErrorCode("HOST_KEY_CHANGED", False, "the node's SSH host key differs from the one "
                                         "recorded on first use"),
    ErrorCode("SSH_AUTH_FAILED", False, "the node refused the control plane's SSH key"),
    ErrorCode("COMMAND_FAILED", False, "a command on the node exited with an error"),
    ErrorCode("JOB_TIMEOUT", False, "the job ran longer than its time limit; its remote "
                                    "process was killed"),
    ErrorCode("CANCELLED", False, "an admin cancelled the job"),
    ErrorCode("INVALID_PAYLOAD", False, "the job's payload is missing or malformed"),
    ErrorCode("PRECONDITION", False, "the resource was not in a state the job can work on"),
    ErrorCode("HEALTH_CHECK_FAILED", False, "the site did not pass its health check"),
    ErrorCode("DNS_MISMATCH", False, "a domain's A record does not point at its node's "
                                     "public IP: the message names the record to create"),
    ErrorCode("ACME_FAILED", False, "the ACME server did not issue a certificate: the "
                                    "message has its answer"),
    ErrorCode("BACKUP_CORRUPT", False, "a backup's object in storage differs from the "
                                       "checksum recorded when it was made"),
    ErrorCode("UNKNOWN_JOB_TYPE", False, "no handler is registered for the job type"),
    ErrorCode("INTERNAL_ERROR", False, "a bug in Pressluft: the message has the details"),
]}


class JobFailure(Exception):
    """Raised by a step to fail the job with a stable code and an operator's sentence."""

    def __init__(self, code: str, message: str, *, rolled_back: bool = False) -> None:
        """``rolled_back``: the step undid its change (e.g. switched back to the release
        that was serving), so the environment is left ``active``, not ``failed``."""
        if code not in ERROR_CODES:
            raise ValueError(f"unknown job error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.rolled_back = rolled_back

    @property
    def retryable(self) -> bool:
        return ERROR_CODES[self.code].retryable
