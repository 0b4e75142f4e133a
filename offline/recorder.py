"""The mock engine side: fake provider outputs, and a monitor that records every registration."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from offline import fakes, sdk
from offline.sdk import MockCallArgs, MockMonitor, MockResourceArgs, Mocks, get_project, get_stack

STACK_TYPE = "pulumi:pulumi:Stack"


def engine_urn(stack: str, project: str, parent: str, type_: str, name: str) -> str:
    """A URN as the engine builds it: the parent's full qualified type, never the root stack's."""
    if parent:
        parent_type = parent.split("::")[2]
        if parent_type != STACK_TYPE:
            type_ = f"{parent_type}${type_}"
    return "urn:pulumi:" + "::".join([stack, project, type_, name])


class OfflineMocks(Mocks):
    """Answers registrations like the providers would, with deterministic fake computed values."""

    def new_resource(self, args: MockResourceArgs):
        inputs = fakes.autoname(args.typ, args.name, dict(args.inputs))
        state = {**inputs, **fakes.computed_outputs(args.typ, args.name, inputs)}
        return fakes.resource_id(args.typ, args.name, inputs), state

    def call(self, args: MockCallArgs):
        return {}


@dataclass
class Registration:
    """One registered resource as the engine saw it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict
    dependencies: list[str]
    options: dict
    order: int = 0


@dataclass
class Recording:
    """Everything a program run registered, in registration order, plus the stack outputs."""

    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: set[str] = field(default_factory=set)


class RecordingMonitor(MockMonitor):
    """A MockMonitor that also records inputs, parents, dependencies and resource options."""

    def __init__(self, mocks: Mocks) -> None:
        super().__init__(mocks)
        self.recording = Recording()
        self._lock = threading.Lock()
        self.stack_urn: str | None = None

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        return engine_urn(get_stack(), get_project(), parent, type_, name)

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        sdk.ensure_event_loop()
        raw = sdk.deserialize_properties(request.object, keep_unknowns=True)
        inputs = fakes.check(request.type, request.name, _ints(_plain(raw)))
        options = {
            "protect": bool(request.protect),
            "retainOnDelete": bool(request.retainOnDelete),
            "deleteBeforeReplace": bool(request.deleteBeforeReplace),
            "ignoreChanges": list(request.ignoreChanges),
            "additionalSecretOutputs": list(request.additionalSecretOutputs),
            "replaceOnChanges": list(request.replaceOnChanges),
            "customTimeouts": {key: getattr(request.customTimeouts, key) for key in ("create", "update", "delete")
                               if getattr(request.customTimeouts, key)},
        }
        with self._lock:
            if request.type == STACK_TYPE:
                self.stack_urn = response.urn
            self.recording.resources.append(Registration(
                urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
                custom=bool(request.custom), inputs=inputs, dependencies=sorted(set(request.dependencies)),
                options=options, order=len(self.recording.resources)))
        return response

    def RegisterResourceOutputs(self, request):
        if request.urn and request.urn == self.stack_urn:
            sdk.ensure_event_loop()
            outputs = sdk.deserialize_properties(request.outputs, keep_unknowns=True)
            with self._lock:
                for key, value in outputs.items():
                    if sdk.is_secret(value):
                        self.recording.secret_outputs.add(key)
                self.recording.outputs = _ints(_plain(outputs))
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    """Unwrap secret envelopes (their values are fakes or placeholders offline)."""
    if sdk.is_secret(value):
        return _plain(value.get("value"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _ints(value: Any) -> Any:
    """Numbers cross the wire as floats; whole ones go back to ints, as the provider would send them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value
