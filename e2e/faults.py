"""Faults for the real-engine scenarios: a CLI operation started in the background and interrupted (SIGINT to the
CLI, or SIGKILL to everything it started) when a given step is in flight, and the API server stopped and started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from e2e import harness, paths
from e2e.harness import Run

APISERVER_PID = paths.BUILD / "kwok" / "clusters" / "archon-e2e" / "pids" / "kube-apiserver.pid"


def processes() -> dict[int, list[str]]:
    """Every live process's /proc/PID/stat fields after the command name (state, ppid, pgrp, session, ...)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                out[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    return out


def children() -> dict[int, list[int]]:
    """Every process's children."""
    tree: dict[int, list[int]] = {}
    for pid, fields in processes().items():
        tree.setdefault(int(fields[1]), []).append(pid)
    return tree


def session(sid: int) -> list[int]:
    """The processes of one session."""
    return [pid for pid, fields in processes().items() if int(fields[3]) == sid]


def descendants(pid: int) -> list[int]:
    """The processes below `pid`, nearest first."""
    tree, out, todo = children(), [], [pid]
    while todo:
        below = tree.get(todo.pop(0), [])
        out += below
        todo += below
    return out


def command(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except OSError:
        return []


@dataclass
class Started:
    """A CLI operation running in its own session (so that a SIGKILL reaches everything it started)."""

    process: subprocess.Popen
    event_file: Path
    started: float

    def events(self) -> list[dict]:
        """The engine's events so far (a line still being written is left for the next call)."""
        if not self.event_file.is_file():
            return []
        lines = self.event_file.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]

    def cli(self) -> int | None:
        """The Pulumi CLI's process (the operation's own `pulumi` command)."""
        for pid in descendants(self.process.pid):
            argv = command(pid)
            if argv and Path(argv[0]).name == "pulumi":
                return pid
        return None

    def wait_for(self, condition: Callable[[list[dict]], bool], timeout: float = 600) -> float:
        """Wait until `condition(events)` holds; seconds since the start. Fails if the operation ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.events()):
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise AssertionError(f"the operation ended (exit {self.process.returncode}) before the fault point")
            time.sleep(0.05)
        raise AssertionError(f"no fault point within {timeout} s")

    def interrupt(self) -> None:
        """SIGINT to the CLI, as Ctrl-C or a CI runner's cancel sends it: the engine finishes what is in flight."""
        pid = self.cli()
        assert pid, "no pulumi process to interrupt"
        os.kill(pid, signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL to the whole session: CLI, providers, policy pack, program; nothing gets to clean up. (The CLI
        starts each plugin in a process group of its own, so the session, not the group, is what holds them.)"""
        for pid in session(self.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def finish(self, timeout: float = 1800) -> Run:
        """Wait for the operation to end; what it printed and did."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        finally:
            events = self.events()
            self.event_file.unlink(missing_ok=True)
        return Run(self.process.returncode, stdout, stderr, time.monotonic() - self.started, events)


def start(operation: str, *flags: str, sets: tuple[str, ...] = (), stack: str = "local") -> Started:
    """`python -m e2e.engine OPERATION` in the background, its events streamed to a file."""
    event_file = paths.BUILD / f"events-{operation}-{time.monotonic_ns()}.jsonl"
    args = [sys.executable, "-m", "e2e.engine", operation, "--stack", stack, "--events", str(event_file), *flags]
    for assignment in sets:
        args += ["--set", assignment]
    env = {**os.environ, "KUBECONFIG": str(paths.KUBECONFIG)}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=paths.ROOT,
                               env=env, start_new_session=True)
    return Started(process, event_file, time.monotonic())


def begun(type_token: str) -> Callable[[list[dict]], bool]:
    """A fault point: a step on a resource of this type has begun (it may have finished: a step as quick as a
    Namespace's create often reaches the event log together with its outputs, so it is never seen in flight)."""
    def condition(events: list[dict]) -> bool:
        return any(e.get("resource_pre_event") and e["resource_pre_event"]["metadata"]["type"] == type_token
                   for e in events)
    return condition


def in_flight(type_token: str) -> Callable[[list[dict]], bool]:
    """A fault point: a step on a resource of this type has begun and not finished."""
    def condition(events: list[dict]) -> bool:
        begun = {e["resource_pre_event"]["metadata"]["urn"] for e in events if e.get("resource_pre_event")
                 and e["resource_pre_event"]["metadata"]["type"] == type_token}
        done = {e["res_outputs_event"]["metadata"]["urn"] for e in events if e.get("res_outputs_event")}
        return bool(begun - done)
    return condition


PIDS = APISERVER_PID.parent


@dataclass
class Component:
    """How a control-plane process was started (from /proc), to start it again the same way."""

    name: str
    argv: list[str]
    cwd: str
    env: dict[str, str]

    @classmethod
    def of(cls, pidfile: Path) -> Component:
        pid = int(pidfile.read_text())
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        return cls(pidfile.stem, command(pid), os.readlink(f"/proc/{pid}/cwd"), env)

    def running(self) -> bool:
        fields = processes().get(int((PIDS / f"{self.name}.pid").read_text()))
        return fields is not None and fields[0] != "Z"

    def start(self) -> None:
        log = (PIDS.parent / "logs" / f"{self.name}.log").open("a")
        process = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=log, stderr=log,
                                   start_new_session=True)
        (PIDS / f"{self.name}.pid").write_text(str(process.pid))  # scripts/cluster.sh down stops this one


@dataclass
class StoppedApiServer:
    """The API server, killed; start() runs it again, then, as the kubelet restarts a static pod, any other
    control-plane process that exited meanwhile (the controller-manager and the scheduler exit when they lose
    their leader lease, after about 15 s without the API server)."""

    components: list[Component]

    def start(self) -> None:
        apiserver = next(c for c in self.components if c.name == "kube-apiserver")
        apiserver.start()
        wait_ready()
        for component in self.components:
            if component is not apiserver and not component.running():
                component.start()


def stop_api_server() -> StoppedApiServer:
    """Kill the running kube-apiserver (connections refused from now on), remembering how everything was started."""
    components = [Component.of(pidfile) for pidfile in sorted(PIDS.glob("*.pid"))]
    pid = int(APISERVER_PID.read_text())
    os.kill(pid, signal.SIGTERM)
    apiserver = next(c for c in components if c.name == "kube-apiserver")
    for _ in range(100):
        if not apiserver.running():
            break
        time.sleep(0.1)
    return StoppedApiServer(components)


def wait_ready(timeout: float = 90) -> None:
    """Wait until the API server answers /readyz again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if harness.cluster_running():
            return
        time.sleep(0.5)
    raise AssertionError(f"the API server is not ready {timeout} s after it was started again")
