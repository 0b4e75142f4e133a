"""A stand-in for PostgREST (which cannot run here), for proving that archon-server starts on the real node.

It answers every read with an empty result and every write with what was sent, as PostgREST does for an empty
database the service role may read and write, and logs each request. It proves nothing about PostgREST; it lets the
server's own startup (settings, schema check, prompts) run under its pod's real constraints.
Standard library only: it runs with the python base image. Usage: python data_api_stand_in.py PORT
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandIn(BaseHTTPRequestHandler):
    """Empty tables, accepted writes."""

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        print(json.dumps({"method": self.command, "path": self.path, "status": status}), flush=True)

    def do_GET(self) -> None:
        single = "vnd.pgrst.object" in (self.headers.get("Accept") or "")
        if single:
            self._answer(406, b'{"code":"PGRST116","message":"JSON object requested, multiple (or no) rows returned"}')
        else:
            self._answer(200, b"[]")

    do_HEAD = do_GET

    def _write(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b"[]"
        self._answer(201 if self.command == "POST" else 200, sent if sent.startswith(b"[") else b"[" + sent + b"]")

    do_POST = do_PATCH = do_PUT = _write

    def do_DELETE(self) -> None:
        self._answer(200, b"[]")

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), StandIn).serve_forever()
