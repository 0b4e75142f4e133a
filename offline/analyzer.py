"""Drive a policy pack over the analyzer gRPC protocol, exactly as the Pulumi CLI does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from offline.recorder import Registration

START_TIMEOUT_S = 60
KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"


class PolicyPackError(Exception):
    """The pack could not be started or answered with an error."""


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic the pack returned, with the resource it is about."""

    policy: str
    message: str
    enforcement: str
    urn: str
    description: str


@dataclass(frozen=True)
class StackContext:
    """What the CLI tells a pack about the stack (ConfigureStack and the pack's environment)."""

    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str]
    dry_run: bool = True
    organization: str = "organization"


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


class PolicyPack:
    """A running pack process (`python -u -m pulumi.policy <engine> <packdir>`, cwd = the pack)."""

    def __init__(self, pack_dir: Path, context: StackContext) -> None:
        self.pack_dir = pack_dir
        self.context = context
        env = {**os.environ,
               "PULUMI_PROJECT": context.project, "PULUMI_STACK": context.stack,
               "PULUMI_DRY_RUN": "true" if context.dry_run else "false",
               "PULUMI_ORGANIZATION": context.organization,
               "PULUMI_CONFIG": json.dumps(context.config),
               "PULUMI_CONFIG_SECRET_KEYS": json.dumps(context.secret_keys)}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(pack_dir)], cwd=pack_dir, env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except OSError as exc:
            # The engine hands a pack the stack config in one environment variable, as the CLI does; Linux caps
            # one at 128 KiB (E2BIG), for the real CLI too.
            size = len(env["PULUMI_CONFIG"].encode("utf-8", "surrogatepass"))
            raise PolicyPackError(f"the policy pack could not start ({exc.strerror}): the stack config is {size} "
                                  "bytes as JSON, handed over in one environment variable, which Linux limits to "
                                  "128 KiB; shorten the config values") from None
        self._stderr: list[str] = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        port = self._read_port()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}",
                                             options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)])
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def _read_port(self) -> int:
        """The engine reads the port from the pack's first stdout line; anything else is fatal."""
        stdout = self.process.stdout
        assert stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        line = result[0].strip() if result else ""
        if not line.isdigit():
            self.process.kill()
            self.process.wait()
            detail = "".join(self._stderr).strip()[-2000:]
            said = f"printed {line!r} instead of its port" if line else "exited or printed nothing"
            raise PolicyPackError(f"policy pack {self.pack_dir} {said}" + (f":\n{detail}" if detail else ""))
        return int(line)

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self.stub.GetAnalyzerInfo(empty_pb2.Empty())

    def configure(self, request: analyzer_pb2.ConfigureAnalyzerRequest) -> None:
        if request.policyConfig:
            self.stub.Configure(request)
        c = self.context
        self.stub.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=c.stack, project=c.project, organization=c.organization, dry_run=c.dry_run,
            config=c.config, config_secret_keys=c.secret_keys))

    def analyze(self, resources: list[Registration], in_flight: int = 8,
                deadline_s: float | None = None) -> list[Diagnostic]:
        """Analyze per resource (several in flight, as the engine does across steps), then AnalyzeStack once;
        with deadline_s, a call the pack has not answered by then fails (a hang is an error, not a wait)."""
        by_urn = {r.urn: r for r in resources}
        provider = self._provider()
        requests = [analyzer_pb2.AnalyzeRequest(
            type=r.type, urn=r.urn, name=r.name, properties=_struct(r.inputs), options=_options(r, by_urn),
            provider=provider if r.type.startswith("kubernetes:") else None) for r in resources]
        responses = self._analyze_all(requests, in_flight, deadline_s)
        diagnostics = [d for request, response in zip(requests, responses, strict=True)
                       for d in _diagnostics(response, request.urn)]
        stack_request = analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
            type=r.type, urn=r.urn, name=r.name, properties=_struct(r.inputs), options=_options(r, by_urn),
            provider=provider if r.type.startswith("kubernetes:") else None, parent=r.parent or "",
            dependencies=r.dependencies) for r in resources])
        diagnostics += _diagnostics(self._call(self.stub.AnalyzeStack, stack_request, deadline_s), "")
        return diagnostics

    def _analyze_all(self, requests: list, in_flight: int,
                     deadline_s: float | None = None) -> list[analyzer_pb2.AnalyzeResponse]:
        """Keep up to `in_flight` Analyze calls running with gRPC futures; answers in request order."""
        pending: deque = deque()
        responses = []
        for request in requests:
            pending.append((request, self.stub.Analyze.future(request, timeout=deadline_s)))
            if len(pending) >= in_flight:
                responses.append(self._result(*pending.popleft()))
        responses += [self._result(*item) for item in pending]
        return responses

    def _result(self, request, future) -> analyzer_pb2.AnalyzeResponse:
        try:
            return future.result()
        except grpc.RpcError as exc:
            detail = "".join(self._stderr).strip()[-2000:]
            raise PolicyPackError(f"policy pack failed on {request.urn}: {exc.details()}"
                                  + (f"\n{detail}" if detail else "")) from None

    def _call(self, method, request, deadline_s: float | None = None):
        try:
            return method(request, timeout=deadline_s)
        except grpc.RpcError as exc:
            detail = "".join(self._stderr).strip()[-2000:]
            raise PolicyPackError(f"policy pack failed on {getattr(request, 'urn', 'the stack')}: "
                                  f"{exc.details()}" + (f"\n{detail}" if detail else "")) from None

    def _provider(self) -> analyzer_pb2.AnalyzerProviderResource:
        """The default Kubernetes provider, with the stack's `kubernetes:` config as its inputs."""
        c = self.context
        props = {k.split(":", 1)[1]: v for k, v in c.config.items() if k.startswith("kubernetes:")}
        return analyzer_pb2.AnalyzerProviderResource(
            type=KUBERNETES_PROVIDER, name="default", properties=_struct(props),
            urn=f"urn:pulumi:{c.stack}::{c.project}::{KUBERNETES_PROVIDER}::default")

    def close(self) -> None:
        self.channel.close()
        self.process.kill()
        self.process.wait()

    def __enter__(self) -> PolicyPack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _options(r: Registration, by_urn: dict[str, Registration]) -> analyzer_pb2.AnalyzerResourceOptions:
    opts = r.options
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=bool(opts.get("protect")), ignoreChanges=list(opts.get("ignoreChanges") or []),
        deleteBeforeReplace=bool(opts.get("deleteBeforeReplace")),
        deleteBeforeReplaceDefined=bool(opts.get("deleteBeforeReplace")),
        additionalSecretOutputs=list(opts.get("additionalSecretOutputs") or []), parent=r.parent or "")


def _diagnostics(response: Any, urn: str) -> Iterable[Diagnostic]:
    for d in response.diagnostics:
        message = d.message
        if d.description and message.startswith(d.description):
            message = message[len(d.description):].lstrip("\n")
        yield Diagnostic(policy=d.policyName, message=message or d.description,
                         enforcement={0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}[d.enforcementLevel],
                         urn=d.urn or urn, description=d.description)


__all__ = ["Diagnostic", "PolicyPack", "PolicyPackError", "StackContext", "json_format"]
