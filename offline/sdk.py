"""The Pulumi SDK's internals the offline engine runs on, in one place: the mock monitor and settings it configures,
the language host's way of running a program in its stack, and the wire format of secrets. None of these is the
SDK's documented API, so an SDK upgrade that moves one breaks here, and only here (tests/test_offline_engine.py)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import mocks as _mocks
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.settings import get_project, get_stack
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _ensure_event_loop

MockCallArgs = _mocks.MockCallArgs
MockEngine = _mocks.MockEngine
MockMonitor = _mocks.MockMonitor
MockResourceArgs = _mocks.MockResourceArgs
Mocks = _mocks.Mocks
deserialize_properties = _rpc.deserialize_properties

__all__ = ["MockCallArgs", "MockEngine", "MockMonitor", "MockResourceArgs", "Mocks", "configure",
           "deserialize_properties", "ensure_event_loop", "get_project", "get_stack", "is_secret", "reset",
           "run_in_stack"]


def ensure_event_loop() -> Any:
    """The calling thread's event loop, made if it has none (the SDK calls the monitor from executor threads)."""
    return _ensure_event_loop()


def is_secret(value: Any) -> bool:
    """Whether a deserialized property value is a secret's envelope."""
    return isinstance(value, dict) and value.get(_rpc._special_sig_key) == _rpc._special_secret_sig


def configure(monitor: MockMonitor, engine: MockEngine, project: str, stack: str) -> None:
    """Point the SDK at the mock monitor and engine, as the language host points it at the real ones."""
    _settings.ROOT.set(None)
    _settings.configure(_mocks.MockSettings(
        monitor=monitor,
        monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
        engine=engine,
        project=project,
        stack=stack,
        # Not a dry run: outputs the mocks compute are known, so every manifest is complete.
        dry_run=False,
        organization="organization",
        callbacks=None,
    ))


def reset() -> None:
    """Forget the finished program's root stack resource, so the next run registers its own."""
    _settings.ROOT.set(None)
