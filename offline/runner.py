"""Run the Pulumi program under the SDK's mock monitor and return what it registered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import runpy
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulumi

from offline import sdk
from offline.project import StackInputs
from offline.recorder import OfflineMocks, Recording, RecordingMonitor


class ProgramError(Exception):
    """The program stopped with an error (invalid config raises pulumi.RunError with the message)."""

    def __init__(self, message: str, registered: list[str]) -> None:
        super().__init__(message)
        self.registered = registered  # types registered before it stopped, for tests and diagnosis


class _StderrHandler(logging.Handler):
    """The program's log lines on whatever sys.stderr is when they are written (a caller may redirect it)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr)


def run_program(inputs: StackInputs) -> Recording:
    """Run the program once, as `pulumi preview` would, and return its registrations and outputs.

    Not `set_mocks`: it creates and finishes the root Stack itself, so outputs exported later never
    reach the monitor. Instead the SDK's MockSettings, MockEngine and a MockMonitor subclass are
    configured here and the program runs in `run_in_stack`, exactly as the language host runs it.
    """
    monitor = RecordingMonitor(OfflineMocks())
    logger = logging.getLogger("offline.program")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    sdk.configure(monitor, sdk.MockEngine(logger), inputs.project, inputs.stack)
    pulumi.runtime.set_all_config(dict(inputs.config), list(inputs.secret_keys))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # The SDK calls the monitor from executor threads, each of which gets an event loop of its own;
    # keep hold of them so they are closed with ours instead of at interpreter exit.
    thread_loops: list[asyncio.AbstractEventLoop] = []
    loop.set_default_executor(ThreadPoolExecutor(initializer=lambda: thread_loops.append(sdk.ensure_event_loop())))
    try:
        with _program_context(inputs.project_dir):
            loop.run_until_complete(sdk.run_in_stack(lambda: _run_main(inputs.main)))
    except pulumi.RunError as exc:
        raise ProgramError(str(exc), [r.type for r in monitor.recording.resources]) from None
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        for thread_loop in thread_loops:
            thread_loop.close()
        loop.close()
        asyncio.set_event_loop(None)
        sdk.reset()
    return monitor.recording


@contextlib.contextmanager
def _program_context(project_dir: Path):
    """The CLI runs the program from its directory, with that directory importable."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(project_dir)
    sys.path.insert(0, str(project_dir))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


def _run_main(main: Path) -> None:
    """Run the program's __main__.py the way the Pulumi language host does."""
    runpy.run_path(str(main), run_name="__main__")
