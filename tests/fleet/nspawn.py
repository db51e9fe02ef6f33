"""Real test nodes: bare Debian hosts booted with systemd-nspawn on this machine.

Pressluft drives servers over SSH. Tests that provision from a bare OS, lose a node mid-job or
compare Debian releases need real separate hosts: systemd as PID 1, their own disk, host keys,
machine id and address. scripts/lib/nodes.sh prepares the bridge (pl-br0, host 10.203.1.1),
an apt proxy on it and cached base root filesystems (PRESSLUFT_TEST_FLEET_* variables); this
module boots one overlay of a base per node. Root only. The host has no systemd or machined,
so nodes run with --register=no --keep-unit and are entered with nsenter, not machinectl.
The fleet of several nodes, leftover clean-up and the file server: tests/fleet/fleet.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# systemd 257 (trixie) dropped cgroup v1; this host mounts the hybrid layout, so nspawn must be
# told to give such a node the unified hierarchy or its units log cgroup errors.
UNIFIED_HIERARCHY_SUITES = frozenset({"trixie"})
# A process may be gone by the time it is looked at or signalled.
GONE = (ProcessLookupError, FileNotFoundError)


class NodeError(RuntimeError):
    """A node did not boot, stop or answer as expected."""


class NodeCommandError(subprocess.CalledProcessError):
    """A command inside a node failed; unlike CalledProcessError, says what it printed."""

    def __str__(self) -> str:
        return (f"{super().__str__()}\nstdout: {str(self.stdout or '')[-2000:]}"
                f"\nstderr: {str(self.stderr or '')[-2000:]}")


@dataclass(frozen=True)
class FleetConfig:
    """Where the bases are and how nodes reach the host: what scripts/lib/nodes.sh exports."""

    bases: Path
    bridge: str
    host: str
    mirror: str
    security_mirror: str
    state_dir: Path

    @classmethod
    def from_env(cls) -> FleetConfig:
        env = os.environ
        host = env.get("PRESSLUFT_TEST_FLEET_HOST", "10.203.1.1")
        return cls(
            bases=Path(env.get("PRESSLUFT_TEST_FLEET_BASES", "/var/cache/pressluft-test/nodes")),
            bridge=env.get("PRESSLUFT_TEST_FLEET_BRIDGE", "pl-br0"),
            host=host,
            mirror=env.get("PRESSLUFT_TEST_FLEET_MIRROR", f"http://{host}:3142/debian"),
            security_mirror=env.get("PRESSLUFT_TEST_FLEET_SECURITY_MIRROR",
                                    f"http://{host}:3142/debian-security"),
            state_dir=Path(env.get("PRESSLUFT_TEST_FLEET_STATE", "/var/tmp/pressluft-fleet")))


def _alive(pid: int) -> bool:
    """True unless gone or a zombie (this host's PID 1 reaps orphans only now and then)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class NspawnNode:
    """One node: an overlay of a suite's base under STATE/<name>/ booted by systemd-nspawn.

    The overlay's upper layer is the node's disk: it outlives stop() and kill(), so a later
    boot() brings back the same files, host keys and machine id (a node that went away and
    came back); destroy() removes it.
    """

    def __init__(self, name: str, suite: str, address: str, authorized_keys: str = "",
                 config: FleetConfig | None = None) -> None:
        self.name = name
        self.suite = suite
        self.address = address
        self.config = config or FleetConfig.from_env()
        self.dir = self.config.state_dir / name
        self.root = self.dir / "root"
        self.leader_pid: int | None = None
        self._authorized_keys = authorized_keys
        self._proc: subprocess.Popen[bytes] | None = None
        self._veth: str | None = None

    def __repr__(self) -> str:
        return f"NspawnNode({self.name!r}, {self.suite!r}, {self.address!r})"

    # -- life cycle -------------------------------------------------------------------------

    def boot(self, timeout: float = 120.0) -> None:
        """Start the node and return once its systemd is up and sshd answers."""
        if self.is_running():
            return
        deadline = time.monotonic() + timeout
        self._mount()
        if not (self.dir / "provisioned").exists():
            self._first_boot_files()
            (self.dir / "provisioned").touch()
        self._start()
        try:
            self.leader_pid = self._find_leader(deadline)
            self._configure_network(deadline)
            self._wait_systemd(deadline)
            self.wait_ssh(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 60.0) -> None:
        """Orderly poweroff: SIGTERM makes nspawn ask the node's systemd to power off."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._exited()

    def kill(self) -> None:
        """Abrupt end, like a node that vanishes: SIGKILL to the node's PID 1 (which takes
        every process of its PID namespace along) and to nspawn. Killing nspawn alone would
        leave the node running, orphaned."""
        if self.leader_pid is not None:
            with contextlib.suppress(*GONE):
                os.kill(self.leader_pid, signal.SIGKILL)
        if self._proc is not None:
            with contextlib.suppress(*GONE):
                self._proc.kill()
            self._proc.wait(30)
        self._exited()

    def destroy(self) -> None:
        """Stop and remove everything of the node: overlay, its disk, the propagate dir."""
        self.stop()
        if (os.path.ismount(self.root)
                and subprocess.run(["umount", str(self.root)], capture_output=True).returncode):
            subprocess.run(["umount", "-l", str(self.root)], check=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(PROPAGATE_DIR / self.name, ignore_errors=True)

    def is_running(self) -> bool:
        return (self._proc is not None and self._proc.poll() is None
                and self.leader_pid is not None and _alive(self.leader_pid))

    # -- using it -------------------------------------------------------------------------------

    def exec(self, argv: Sequence[str], input: str | None = None, check: bool = True,
             timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """Run argv as root inside the node (all its namespaces), with a clean environment."""
        if not self.is_running() or self.leader_pid is None:
            raise NodeError(f"{self.name} is not running")
        cmd = ["nsenter", "-t", str(self.leader_pid), "-a", "--", "env", "-i",
               f"PATH={NODE_PATH}", "HOME=/root", "USER=root", "LOGNAME=root", "LANG=C.UTF-8",
               "TERM=dumb", "DEBIAN_FRONTEND=noninteractive", *argv]
        done = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise NodeCommandError(done.returncode, list(argv), done.stdout, done.stderr)
        return done

    def authorize(self, public_key_line: str) -> None:
        """Let a key log in as root (works booted or not: written on the node's disk)."""
        ssh_dir = self.root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        ssh_dir.chmod(0o700)
        keys = ssh_dir / "authorized_keys"
        with keys.open("a") as out:
            out.write(public_key_line.strip() + "\n")
        keys.chmod(0o600)

    def host_key(self, kind: str = "ed25519") -> str:
        """The node's public host key ("ssh-ed25519 AAAA..."), as a client would pin it."""
        text = (self.root / f"etc/ssh/ssh_host_{kind}_key.pub").read_text().split()
        return f"{text[0]} {text[1]}"

    def wait_ssh(self, timeout: float = 30.0) -> None:
        """Until TCP 22 on the node's address accepts and sshd sends its banner."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, 22), timeout=2) as conn:
                    if conn.recv(256).startswith(b"SSH-"):
                        return
            except OSError as exc:
                last = exc
            time.sleep(0.1)
        raise NodeError(f"{self.name}: no sshd banner on {self.address}:22 ({last})")

    # -- inside boot() --------------------------------------------------------------------------

    def _mount(self) -> None:
        if os.path.ismount(self.root):
            return
        lower = self.config.bases / self.suite
        if not (lower / "etc/os-release").exists():
            raise NodeError(f"no {self.suite} base at {lower} (scripts/lib/nodes.sh builds it)")
        for sub in ("upper", "work", "root"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={self.dir / 'upper'},"
                        f"workdir={self.dir / 'work'}", str(self.root)], check=True)

    def _first_boot_files(self) -> None:
        """What makes a base image a distinct host, and its provider's environment: name,
        host keys, machine id, the control key, apt through the host's proxy, no DNS."""
        root = self.root
        (root / "etc/hostname").write_text(f"{self.name}\n")
        (root / "etc/hosts").write_text(
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{self.name}\n"
            "::1\t\tlocalhost ip6-localhost ip6-loopback\n")
        for key in (root / "etc/ssh").glob("ssh_host_*"):
            key.unlink()
        subprocess.run(["ssh-keygen", "-A", "-f", str(root)], check=True, capture_output=True)
        # Written, not left empty: an empty one gets a new id on every boot until committed.
        (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        if self._authorized_keys.strip():
            self.authorize(self._authorized_keys)
        resolv = root / "etc/resolv.conf"
        resolv.unlink(missing_ok=True)
        resolv.write_text("# Test node: no DNS; only the bridge's addresses are reachable.\n")
        (root / "etc/apt/sources.list").unlink(missing_ok=True)
        suite, cfg = self.suite, self.config
        (root / "etc/apt/sources.list.d/debian.sources").write_text(
            f"Types: deb\nURIs: {cfg.mirror}\nSuites: {suite} {suite}-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            f"Types: deb\nURIs: {cfg.security_mirror}\nSuites: {suite}-security\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")

    def _start(self) -> None:
        # nspawn cannot remove this itself here (/run is no tmpfs); a stale one breaks boot.
        shutil.rmtree(PROPAGATE_DIR / self.name, ignore_errors=True)
        env = dict(os.environ)
        if self.suite in UNIFIED_HIERARCHY_SUITES:
            env["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
        # --timezone/--resolv-conf=off: the node keeps its own files; the defaults bind-mount
        # the host's over them, and tzdata's postinst then fails ("Device or resource busy").
        cmd = ["systemd-nspawn", "--boot", "--directory", str(self.root), "--machine", self.name,
               f"--network-bridge={self.config.bridge}", "--register=no", "--keep-unit",
               "--console=read-only", "--timezone=off", "--resolv-conf=off",
               "--link-journal=no"]
        with (self.dir / "nspawn.log").open("ab") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True)

    def _find_leader(self, deadline: float) -> int:
        """nspawn's child in a new PID namespace: the node's PID 1, the nsenter target."""
        assert self._proc is not None
        own_ns = os.readlink(f"/proc/{self._proc.pid}/ns/pid")
        children = Path(f"/proc/{self._proc.pid}/task/{self._proc.pid}/children")
        while time.monotonic() < deadline and self._proc.poll() is None:
            with contextlib.suppress(*GONE):
                for child in children.read_text().split():
                    if os.readlink(f"/proc/{child}/ns/pid") != own_ns:
                        return int(child)
            time.sleep(0.05)
        raise NodeError(f"{self.name}: nspawn started no node{self._log_tail()}")

    def _configure_network(self, deadline: float) -> None:
        """The veth is new at every boot, so its address is set at every boot, as a
        provider's DHCP would: 10.203.1.N/24 on host0, default route via the host. Notes the
        host side of the veth (nspawn shortens long names with a hash) for _exited()."""
        script = (f"ip addr replace {self.address}/24 dev host0 && ip link set host0 up"
                  f" && ip route replace default via {self.config.host} && ip -o link show host0")
        while True:
            done = subprocess.run(["nsenter", "-t", str(self.leader_pid), "-n", "sh", "-c",
                                   script], capture_output=True, text=True)
            if done.returncode == 0:
                peer = done.stdout.partition("@if")[2].partition(":")[0]
                self._veth = next((dev.name for dev in Path("/sys/class/net").iterdir()
                                   if (dev / "ifindex").read_text().strip() == peer), None)
                return
            if time.monotonic() > deadline:
                raise NodeError(f"{self.name}: network set-up failed: {done.stderr}")
            time.sleep(0.1)

    def _wait_systemd(self, deadline: float) -> None:
        state = ""
        while time.monotonic() < deadline:
            if not self.is_running():
                break
            left = max(1.0, deadline - time.monotonic())
            try:
                state = self.exec(["systemctl", "is-system-running", "--wait"], check=False,
                                  timeout=left).stdout.strip()
            except subprocess.TimeoutExpired:
                break
            if state in ("running", "degraded"):
                return
            time.sleep(0.2)  # its bus is not up yet ("offline", "starting", no answer)
        raise NodeError(f"{self.name}: systemd did not come up ({state!r}){self._log_tail()}")

    def _exited(self) -> None:
        """After nspawn is gone: wait for the node's processes to be gone too (their netns
        holds the veth, whose name the next boot needs), forget the pids."""
        leader, self.leader_pid, self._proc = self.leader_pid, None, None
        veth, self._veth = self._veth, None
        end = time.monotonic() + 15
        while leader is not None and _alive(leader) and time.monotonic() < end:
            time.sleep(0.05)
        while veth and Path(f"/sys/class/net/{veth}").exists() and time.monotonic() < end:
            time.sleep(0.05)
        shutil.rmtree(PROPAGATE_DIR / self.name, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return "\n" + (self.dir / "nspawn.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

