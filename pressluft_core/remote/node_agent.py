#!/usr/bin/env python3
"""Pressluft node agent: runs the control plane's commands on a node, one process per SSH
connection, so a step costs a round trip on an open channel instead of a login shell.

This file is uploaded to the node (checksum-named) and started as ``python3 -I <path>``,
under ``sudo -n`` when the commands need root. It must stay dependency-free and run on any
python3 a supported node ships; it never imports pressluft_core.

Protocol, one JSON object per line in each direction.
requests on stdin:
  {"op": "run", "id": 1, "argv": [...], "stdin": false}
  {"op": "stdin", "id": 1, "data": "<base64>"}
  {"op": "eof", "id": 1}
  {"op": "kill", "id": 1}
events on stdout:
  {"ev": "hello", "proto": 1, "pid": 99, "uid": 0}
  {"ev": "started", "id": 1, "pgid": 4242}
  {"ev": "out", "id": 1, "s": "stdout", "line": "..."}
  {"ev": "exit", "id": 1, "status": 0}

Several commands may run at once; every event carries its request id. Each command runs
directly (no shell) in a new session, hence its own process group, which ``kill`` ends with
SIGKILL. Output is sent line by line as produced (lines longer than 64 KiB are split). A
command that cannot be started reports a stderr line and status 127/126, as a shell would;
one killed by signal N reports 128+N. When stdin closes (the connection is gone) or the
agent is told to terminate, every running process group is killed first: an interrupted
step must not keep running behind a retry of itself.

One thread, one selector: pipes, the control channel and a SIGCHLD wakeup fd are all
multiplexed here, which keeps a step's overhead close to that of the fork/exec itself.
"""

import base64
import contextlib
import json
import os
import select
import selectors
import signal
import subprocess
import sys
import time

PROTOCOL = 1
LINE_MAX = 65536
READ_SIZE = 65536
DRAIN_GRACE = 5.0  # after a command exits, how long to wait for others holding its pipes
OUT_FD = 1


def send(message):
    view = memoryview((json.dumps(message, separators=(",", ":")) + "\n").encode("ascii"))
    while view:
        try:
            view = view[os.write(OUT_FD, view):]
        except BlockingIOError:  # stdout may share a non-blocking socket with stdin
            select.select([], [OUT_FD], [])


class Job:
    def __init__(self, rid, proc):
        self.rid = rid
        self.proc = proc
        self.pgid = proc.pid  # start_new_session: the child leads its own group
        self.streams = {}  # fd -> [name, pending bytes]
        self.pending_input = b""
        self.input_done = proc.stdin is None
        self.drain_deadline = None

    def kill(self):
        with contextlib.suppress(OSError):
            os.killpg(self.pgid, signal.SIGKILL)


class Agent:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.jobs = {}
        self.control = b""
        self.open = True
        wake_r, wake_w = os.pipe()
        for fd in (0, wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
        self.sel.register(wake_r, selectors.EVENT_READ, ("wake", None))
        self.sel.register(0, selectors.EVENT_READ, ("control", None))

    def serve(self):
        send({"ev": "hello", "proto": PROTOCOL, "pid": os.getpid(), "uid": os.getuid()})
        while self.open:
            for key, mask in self.sel.select(self._timeout()):
                kind, job = key.data
                if kind == "control":
                    self._read_control()
                elif kind == "wake":
                    with contextlib.suppress(OSError):
                        os.read(key.fd, 4096)
                    self._reap()
                elif kind == "out":
                    self._read_output(job, key.fd)
                elif mask & selectors.EVENT_WRITE:
                    self._write_input(job)
            self._finish_due()
        self.kill_all()

    def _timeout(self):
        deadlines = [j.drain_deadline for j in self.jobs.values() if j.drain_deadline]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    # -- requests -----------------------------------------------------------------------

    def _read_control(self):
        try:
            data = os.read(0, READ_SIZE)
        except BlockingIOError:
            return
        if not data:
            self.open = False
            return
        *lines, self.control = (self.control + data).split(b"\n")
        for raw in lines:
            try:
                request = json.loads(raw)
            except ValueError:
                continue
            if isinstance(request, dict):
                self._handle(request)

    def _handle(self, request):
        op, rid = request.get("op"), request.get("id")
        if op == "run":
            self._start(rid, request.get("argv"), bool(request.get("stdin")))
            return
        job = self.jobs.get(rid)
        if job is None:
            return  # already finished: nothing to feed or kill
        if op == "kill":
            job.kill()
        elif op == "stdin" and not job.input_done:
            job.pending_input += base64.b64decode(request.get("data", ""))
            self._write_input(job)
        elif op == "eof" and not job.input_done:
            job.input_done = True
            self._write_input(job)

    def _start(self, rid, argv, with_input):
        if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            send({"ev": "out", "id": rid, "s": "stderr", "line": "pressluft-agent: bad argv"})
            send({"ev": "exit", "id": rid, "status": 126})
            return
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if with_input else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            send({"ev": "out", "id": rid, "s": "stderr",
                  "line": f"pressluft-agent: cannot run {argv[0]!r}: {exc.strerror}"})
            send({"ev": "exit", "id": rid,
                  "status": 127 if isinstance(exc, FileNotFoundError) else 126})
            return
        job = Job(rid, proc)
        self.jobs[rid] = job
        send({"ev": "started", "id": rid, "pgid": job.pgid})
        for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
            os.set_blocking(pipe.fileno(), False)
            job.streams[pipe.fileno()] = [name, b""]
            self.sel.register(pipe.fileno(), selectors.EVENT_READ, ("out", job))
        if proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)

    # -- a command's pipes --------------------------------------------------------------

    def _read_output(self, job, fd):
        stream = job.streams[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if stream[1]:
                self._emit(job, stream[0], stream[1])
            self._close_stream(job, fd)
            return
        *lines, rest = (stream[1] + data).split(b"\n")
        for line in lines:
            self._emit(job, stream[0], line)
        while len(rest) >= LINE_MAX:
            self._emit(job, stream[0], rest[:LINE_MAX])
            rest = rest[LINE_MAX:]
        stream[1] = rest

    def _emit(self, job, name, raw):
        line = raw[:-1] if raw.endswith(b"\r") else raw
        send({"ev": "out", "id": job.rid, "s": name, "line": line.decode("utf-8", "replace")})

    def _close_stream(self, job, fd):
        self.sel.unregister(fd)
        os.close(fd)
        del job.streams[fd]

    def _write_input(self, job):
        stdin = job.proc.stdin
        if stdin is None or stdin.closed:
            return
        try:
            while job.pending_input:
                job.pending_input = job.pending_input[os.write(stdin.fileno(),
                                                               job.pending_input):]
        except BlockingIOError:
            pass
        except OSError:  # the command stopped reading: drop the rest
            job.pending_input, job.input_done = b"", True
        self._watch_input(job)
        if job.input_done and not job.pending_input:
            with contextlib.suppress(OSError):
                stdin.close()

    def _watch_input(self, job):
        fd = job.proc.stdin.fileno()
        registered = fd in self.sel.get_map()
        if job.pending_input and not registered:
            self.sel.register(fd, selectors.EVENT_WRITE, ("in", job))
        elif not job.pending_input and registered:
            self.sel.unregister(fd)

    # -- exits --------------------------------------------------------------------------

    def _reap(self):
        """Collect every exited child at once (one waitpid per exit, not per job)."""
        by_pid = {job.proc.pid: job for job in self.jobs.values()}
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            job = by_pid.get(pid)
            if job is not None:
                job.proc.returncode = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                                       else os.WEXITSTATUS(status))
                job.drain_deadline = time.monotonic() + DRAIN_GRACE
        self._finish_due()

    def _finish_due(self):
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job.drain_deadline is None or (job.streams and now < job.drain_deadline):
                continue
            for fd in list(job.streams):
                self._close_stream(job, fd)
            if job.proc.stdin is not None and not job.proc.stdin.closed:
                job.pending_input = b""
                self._watch_input(job)
                with contextlib.suppress(OSError):
                    job.proc.stdin.close()
            del self.jobs[job.rid]
            status = job.proc.returncode
            send({"ev": "exit", "id": job.rid,
                  "status": status if status >= 0 else 128 - status})

    def kill_all(self):
        for job in self.jobs.values():
            job.kill()


def main():
    agent = Agent()

    def terminate(signum, _frame):
        agent.kill_all()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    agent.serve()


if __name__ == "__main__":
    sys.exit(main())
