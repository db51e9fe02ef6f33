"""Failures of remote execution, each telling the job layer whether a retry can help.

``retryable`` is the one bit the job queue needs (re-queue with backoff, or fail at once);
``code`` is the stable identifier it records. A command that runs and exits non-zero is
not an error here: its exit status comes back in the result and the job maps it.
"""

from __future__ import annotations

from pressluft_core.errors import PressluftError


class RemoteError(PressluftError):
    """Base of every remote-execution failure.

    ``output_tail`` carries the last output of the command when the failure happened
    mid-command (timeout, cancellation, connection lost), for the job's error message.
    """

    code = "REMOTE_ERROR"
    retryable = False

    def __init__(self, message: str, *, output_tail: str = "") -> None:
        super().__init__(message)
        self.output_tail = output_tail


class HostUnreachable(RemoteError):
    """TCP connect refused or timed out, name did not resolve, handshake cut off."""

    code = "HOST_UNREACHABLE"
    retryable = True


class ConnectionLost(RemoteError):
    """The connection (or the node-side agent) went away while a command was running."""

    code = "CONNECTION_LOST"
    retryable = True


class HostKeyChanged(RemoteError):
    """The node presented a host key other than the one recorded on first use."""

    code = "HOST_KEY_CHANGED"
    retryable = False

    def __init__(self, node_id: str, host: str, port: int, recorded_fingerprint: str,
                 offered_fingerprint: str, offered_key: str | None = None) -> None:
        super().__init__(
            f"node {node_id} ({host}:{port}) presented SSH host key {offered_fingerprint}, "
            f"but {recorded_fingerprint} is recorded for it: the connection was refused. "
            "This is what a man-in-the-middle looks like. If the change is legitimate "
            "(node reinstalled or its host keys regenerated), compare the new fingerprint "
            "with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on the node, then "
            "run `pressluft node forget-host-key <node>` so the next connection records the "
            "new one."
        )
        self.node_id = node_id
        self.host = host
        self.port = port
        self.recorded_fingerprint = recorded_fingerprint
        self.offered_fingerprint = offered_fingerprint
        self.offered_key = offered_key


class AuthenticationFailed(RemoteError):
    """The node refused the control plane's key for the configured user."""

    code = "SSH_AUTH_FAILED"
    retryable = False


class RemoteTimeout(RemoteError):
    """``run(timeout=)`` expired; the remote process group has been killed."""

    code = "REMOTE_TIMEOUT"
    retryable = False


class RemoteCancelled(RemoteError):
    """The cancel event was set; the remote process group has been killed."""

    code = "REMOTE_CANCELLED"
    retryable = False
