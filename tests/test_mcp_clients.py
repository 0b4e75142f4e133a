"""MCP clients through the edge's MCP authentication: the Python SDK's streamable HTTP client, given the credential as
a header, runs a whole session (initialize, the event stream, a tool call) through a check that behaves as Traefik's
basicAuth middleware with the rendered spec; without it, it gets 401 and reaches nothing."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import time

import httpx
import pytest
import uvicorn
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.fastmcp import FastMCP

from components.edge_auth import MCP_AUTH, auth_middlewares
from stackconfig.model import AuthSettings

USER, PASSWORD = "mcp", "s3cret-generated-32-characters00"


class BasicAuthEdge:
    """Traefik's basicAuth as the stack configures it: 401 with the realm unless the credential matches; the header
    removed before the request goes on (removeHeader)."""

    def __init__(self, app, spec: dict) -> None:
        self.app, self.spec = app, spec["basicAuth"]
        self.expected = b"Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode())
        self.refused = self.passed = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != self.expected:
            self.refused += 1
            realm = self.spec["realm"].encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"www-authenticate", b'Basic realm="' + realm + b'"'),
                                    (b"content-type", b"text/plain")]})
            return await send({"type": "http.response.body", "body": b"401 Unauthorized\n"})
        self.passed += 1
        if self.spec.get("removeHeader"):
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != b"authorization"])
        return await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def edge():
    server = FastMCP("archon-check", host="127.0.0.1")

    @server.tool()
    def health_check() -> str:
        """Answers ok."""
        return "ok"

    spec = auth_middlewares(AuthSettings(), "archon")[MCP_AUTH]
    app = BasicAuthEdge(server.streamable_http_app(), spec)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                          ws="none"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started:
        assert time.monotonic() < deadline, "the MCP server did not start"
        time.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}/mcp"
    runner.should_exit = True
    thread.join(10)


async def session(url: str, headers: dict[str, str] | None) -> list[str]:
    async with httpx.AsyncClient(headers=headers) as http, \
            streamable_http_client(url, http_client=http) as (read, write, _), ClientSession(read, write) as client:
        await client.initialize()
        tools = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("health_check", {})
        return [*tools, *(part.text for part in result.content if part.type == "text")]


def test_the_python_sdk_client_runs_a_session_with_the_credential_as_a_header(edge):
    app, url = edge
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    before = app.refused
    assert asyncio.run(session(url, {"Authorization": f"Basic {token}"})) == ["health_check", "ok"]
    assert app.refused == before and app.passed >= 3  # initialize, its notification, the calls: each authenticated


def test_without_the_credential_the_client_gets_401_and_reaches_nothing(edge):
    app, url = edge
    passed = app.passed
    with pytest.raises(BaseException) as caught:
        asyncio.run(session(url, None))
    assert "401" in repr(caught.value) or any("401" in repr(e) for e in getattr(caught.value, "exceptions", ()))
    assert app.passed == passed and app.refused >= 1
