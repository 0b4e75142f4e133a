"""Test helpers: edit a stack's raw config the way `pulumi config set --path` would; find rendered objects."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, NoReturn

import pytest

DELETE = object()


def changed(raw: dict[str, str], path: str, value: Any) -> dict[str, str]:
    """A copy of `raw` with `ns:key.sub.path` set to value (or removed with DELETE)."""
    raw = dict(raw)
    key, _, rest = path.partition(".")
    if not rest:
        if value is DELETE:
            raw.pop(key, None)
        else:
            raw[key] = value if isinstance(value, str) else json.dumps(value)
        return raw
    doc = json.loads(raw[key])
    node = doc
    parts = rest.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(parts[-1], None)
    else:
        node[parts[-1]] = value
    raw[key] = json.dumps(doc)
    return raw


def find(plan, kind: str, name: str) -> dict:
    """The one object of `kind` named `name`, or autonamed from the Pulumi resource `name` (`name-<suffix>`)."""

    def matches(o: dict) -> bool:
        meta = o["metadata"]
        autonamed = (meta.get("annotations") or {}).get("pulumi.com/autonamed") == "true"
        return meta["name"] == name or (autonamed and meta["name"].rsplit("-", 1)[0] == name)

    found = [o for o in plan.objects(kind) if matches(o)]
    assert len(found) == 1, f"expected one {kind} {name}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def secret_strings(secret: dict) -> dict[str, str]:
    """A Secret's values as text: the provider's Check turns stringData into base64 data, so manifests hold that."""
    import base64

    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def unavailable(message: str) -> NoReturn:
    """Skip a test whose tool or fixture is missing here; under CI=true (.ci/run installs everything) fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, install: str = ".ci/run installs it", path: str | None = None) -> str:
    """The path of a command-line tool (or of `path` if it exists); unavailable() when there is neither."""
    found = shutil.which(name) or (path if path and Path(path).exists() else None)
    if found is None:
        unavailable(f"{name} is not installed ({install})")
    return found


def use_supabase(config: dict) -> None:
    """A stack-config edit (for plan_with) that switches to Supabase with a fake URL and service key."""
    config["archon:databases"]["provider"] = "supabase"
    config["archon:supabaseUrl"] = "https://xyz.supabase.co"
    config["archon:supabaseServiceKey"] = {"secure": "v1:c2VjcmV0"}


def nginx_main_config(folder: Path, server_block: str, *extra: str) -> Path:
    """An nginx.conf in `folder` that runs `server_block` (written beside it) unprivileged, its pid and temp files
    in `folder`, as the pods' nginx-unprivileged images do; `extra` lines go into the http block."""
    (folder / "default.conf").write_text(server_block)
    temp = " ".join(f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                        "scgi"))
    body = "".join(f"  {line}\n" for line in (*extra, temp, f"include {folder}/default.conf;"))
    path = folder / "nginx.conf"
    path.write_text(f"pid {folder}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n{body}}}\n")
    return path
