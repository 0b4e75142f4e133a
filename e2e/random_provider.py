"""Stand-in for the pulumi-random provider's RandomPassword, served over the real provider protocol.

The pulumi-random provider cannot be built here (no version of github.com/pulumi/pulumi-random/provider/v4 is
served by the Go module proxy), so the harness attaches this one with PULUMI_DEBUG_PROVIDERS=random:PORT.
It keeps the semantics the program relies on, as the Terraform provider behind pulumi-random has them: every
input forces a replacement (so new keepers give a new value), `result` and `bcryptHash` are outputs the SDK
marks secret, and refresh reads back what was stored. Only RandomPassword is served; anything else is refused.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import sys
from concurrent import futures

import grpc
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

PASSWORD = "random:index/randomPassword:RandomPassword"
VERSION = "4.21.4"  # the pulumi-random SDK pin it stands in for
DEFAULTS = {"lower": True, "upper": True, "numeric": True, "special": True, "minLower": 0, "minUpper": 0,
            "minNumeric": 0, "minSpecial": 0}
SPECIAL = "!@#$%&*()-_=+[]{}<>:?"


def _plain(struct: struct_pb2.Struct) -> dict:
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(struct)


def _struct(values: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(values)
    return out


def generate(props: dict) -> str:
    """A password with the requested length, classes and minimums (CSPRNG), as the Terraform provider makes it."""
    classes = [(props["lower"], string.ascii_lowercase, props["minLower"]),
               (props["upper"], string.ascii_uppercase, props["minUpper"]),
               (props["numeric"], string.digits, props["minNumeric"]),
               (props["special"], props.get("overrideSpecial", SPECIAL), props["minSpecial"])]
    chars = [secrets.choice(alphabet) for on, alphabet, minimum in classes if on for _ in range(int(minimum))]
    pool = "".join(alphabet for on, alphabet, _ in classes if on)
    chars += [secrets.choice(pool) for _ in range(int(props["length"]) - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class RandomPasswordProvider(provider_pb2_grpc.ResourceProviderServicer):
    """RandomPassword only: check fills defaults, every change replaces, create generates, read returns state."""

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=VERSION)

    def Handshake(self, request, context):
        return provider_pb2.ProviderHandshakeResponse(accept_secrets=True, accept_resources=True)

    def Attach(self, request, context):
        return empty_pb2.Empty()  # attached through PULUMI_DEBUG_PROVIDERS: nothing to remember about the engine

    def CheckConfig(self, request, context):
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request, context):
        return provider_pb2.DiffResponse()

    def Configure(self, request, context):
        return provider_pb2.ConfigureResponse(acceptSecrets=True, supportsPreview=False, acceptResources=True)

    def _refuse_other(self, type_token: str, context) -> None:
        if type_token != PASSWORD:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the stand-in random provider serves only {PASSWORD}")

    def Check(self, request, context):
        self._refuse_other(request.type, context)
        news = DEFAULTS | _plain(request.news)
        if not isinstance(news.get("length"), (int, float)) or news["length"] < 1:
            return provider_pb2.CheckResponse(failures=[provider_pb2.CheckFailure(
                property="length", reason="length must be a positive number")])
        return provider_pb2.CheckResponse(inputs=_struct(news))

    def Diff(self, request, context):
        self._refuse_other(request.type, context)
        olds, news = _plain(request.old_inputs or request.olds), _plain(request.news)
        changed = sorted(key for key in set(olds) | set(news)
                         if key not in ("result", "bcryptHash") and olds.get(key) != news.get(key))
        return provider_pb2.DiffResponse(
            changes=provider_pb2.DiffResponse.DIFF_SOME if changed else provider_pb2.DiffResponse.DIFF_NONE,
            replaces=changed, diffs=changed)

    def Create(self, request, context):
        self._refuse_other(request.type, context)
        props = _plain(request.properties)
        result = generate(props)
        outputs = props | {"result": result, "bcryptHash": hashlib.sha256(result.encode()).hexdigest()}
        return provider_pb2.CreateResponse(id="none", properties=_struct(outputs))

    def Read(self, request, context):
        return provider_pb2.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    def Update(self, request, context):
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, "every RandomPassword change is a replacement")

    def Delete(self, request, context):
        return empty_pb2.Empty()

    def Cancel(self, request, context):
        return empty_pb2.Empty()

    def GetSchema(self, request, context):
        return provider_pb2.GetSchemaResponse(schema="{}")


def serve(port: int = 0) -> tuple[grpc.Server, int]:
    """Start the provider on loopback; returns the server and its port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(RandomPasswordProvider(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, bound


if __name__ == "__main__":
    running, bound_port = serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(bound_port, flush=True)
    running.wait_for_termination()
