"""A fleet of real test nodes (tests/fleet/nspawn.py), and a file server the nodes can reach.

One fleet per machine at a time: the names (pl-<suite>-N), addresses (10.203.1.11 and up) and
the state directory are fixed, so a lock serialises concurrent runs, and on start the leftovers
of a run that crashed (nspawn processes and orphaned nodes, overlay mounts, veths, propagate
dirs) are removed, or the next boot would fail on them.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from tests.fleet.nspawn import GONE, PROPAGATE_DIR, FleetConfig, NspawnNode

FIRST_HOST_NUMBER = 11  # 10.203.1.11 is the first node; .1 is this machine


class FleetError(RuntimeError):
    """The fleet could not be set up (lock held by another run, a node failed to boot)."""


class Fleet:
    """Nodes booted for a test run, all destroyed at the end (a context manager).

    `node(suite)` adds and boots one; `boot(*suites)` boots several in parallel. Nodes get
    `authorized_keys` (lines of public keys) for root on their first boot.
    """

    def __init__(self, authorized_keys: str = "", config: FleetConfig | None = None,
                 lock_timeout: float = 900.0) -> None:
        self.config = config or FleetConfig.from_env()
        self.authorized_keys = authorized_keys
        self.nodes: list[NspawnNode] = []
        self._lock_timeout = lock_timeout
        self._lock_fd: int | None = None
        self._per_suite: dict[str, int] = {}

    def __enter__(self) -> Fleet:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Take the machine's fleet lock, then clear what a crashed run left behind."""
        self.config.state_dir.parent.mkdir(parents=True, exist_ok=True)
        lock = self.config.state_dir.parent / f"{self.config.state_dir.name}.lock"
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + self._lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise FleetError(f"another test run holds {lock}") from None
                time.sleep(1)
        self._lock_fd = fd
        clean_leftovers(self.config)

    def add(self, suite: str) -> NspawnNode:
        """A new node object (not booted): pl-<suite>-N at the next free address."""
        number = self._per_suite.get(suite, 0) + 1
        self._per_suite[suite] = number
        prefix = self.config.host.rsplit(".", 1)[0]
        node = NspawnNode(f"pl-{suite}-{number}", suite,
                          f"{prefix}.{FIRST_HOST_NUMBER + len(self.nodes)}",
                          self.authorized_keys, self.config)
        self.nodes.append(node)
        return node

    def node(self, suite: str) -> NspawnNode:
        """Add one node of `suite` and boot it."""
        return self.boot(suite)[0]

    def boot(self, *suites: str) -> list[NspawnNode]:
        """Add and boot one node per suite, in parallel (each boot mostly waits)."""
        if self._lock_fd is None:
            raise FleetError("Fleet.open() (or `with Fleet()`) first")
        nodes = [self.add(suite) for suite in suites]
        with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
            results = [pool.submit(node.boot) for node in nodes]
        for future in results:
            future.result()  # re-raises the first failure
        return nodes

    def destroy(self, node: NspawnNode) -> None:
        """Destroy one node before the end (a test's own extra node)."""
        node.destroy()
        self.nodes.remove(node)

    def get(self, suite: str) -> NspawnNode:
        """The first node of `suite`."""
        for node in self.nodes:
            if node.suite == suite:
                return node
        raise KeyError(suite)

    def close(self) -> None:
        """Destroy every node (each even if another fails), then release the lock."""
        errors: list[BaseException] = []
        for node in reversed(self.nodes):
            try:
                node.destroy()
            except Exception as exc:
                errors.append(exc)
        self.nodes.clear()
        stop_file_servers()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        if errors:
            raise FleetError(f"destroying nodes: {errors}")


def _leftover_pids(state_dir: Path) -> list[int]:
    """nspawn processes booting a directory of ours, and every process of a node of ours
    (found by its root: one of our overlays; readlink /proc/PID/root says only "/" for a
    process in another mount namespace). A node outlives a SIGKILLed nspawn, orphaned."""
    prefix = f"{state_dir}/"
    own_ns = os.readlink("/proc/self/ns/pid")
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/pid") != own_ns:
                mountinfo = Path(f"/proc/{pid}/mountinfo").read_text()
                if any(line.split()[4] == "/" and f"upperdir={prefix}" in line
                       for line in mountinfo.splitlines()):
                    found.append(pid)
                continue
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if argv[0].endswith(b"systemd-nspawn") and any(
                    a.startswith(prefix.encode()) for a in argv):
                found.append(pid)
    return found


def clean_leftovers(config: FleetConfig) -> None:
    """Remove all that a crashed run may have left; quiet when there is nothing."""
    for _ in range(100):
        pids = _leftover_pids(config.state_dir)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(*GONE):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in reversed(mounts):
        if (mount.startswith(f"{config.state_dir}/")
                and subprocess.run(["umount", mount], capture_output=True).returncode):
            subprocess.run(["umount", "-l", mount], capture_output=True)
    if config.state_dir.exists():
        for entry in config.state_dir.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
    if PROPAGATE_DIR.is_dir():
        for entry in PROPAGATE_DIR.glob("pl-*"):
            shutil.rmtree(entry, ignore_errors=True)
    # Veths go with their node's network namespace; any still on our bridge is stale.
    links = subprocess.run(["ip", "-o", "link", "show", "master", config.bridge],
                           capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("vb-"):
            subprocess.run(["ip", "link", "del", name], capture_output=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each in the test output."""


_servers: list[ThreadingHTTPServer] = []


def serve_files(directory: Path | str, host: str | None = None) -> str:
    """Serve `directory` over HTTP on the bridge address (a free port), as a download site
    the nodes can reach (e.g. in place of WordPress's official tarball URL). Returns the
    base URL; the server runs in a daemon thread until stop_file_servers() or exit."""
    host = host or FleetConfig.from_env().host
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"serve-files-{directory}",
                     daemon=True).start()
    _servers.append(server)
    return f"http://{host}:{server.server_address[1]}"


def stop_file_servers() -> None:
    while _servers:
        server = _servers.pop()
        server.shutdown()
        server.server_close()
