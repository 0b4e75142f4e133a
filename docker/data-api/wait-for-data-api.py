"""archon-server's init container: wait until the data API serves Archon's schema, then exit 0.

The server reads its settings through the data API at startup and exits when it cannot ("Application startup
failed"), so started before PostgREST and the migration Job are done it would crash-loop with a growing back-off.
This waits instead, as long as the Deployment's progress deadline allows, saying every half minute what it saw.
Environment: DATA_API_URL (PostgREST's address), SUPABASE_SERVICE_KEY (the service-role key).
Standard library only: it runs with the server image's Python.
"""

import os
import sys
import time
import urllib.error
import urllib.request

CHECK = "/archon_settings?select=key&limit=1"  # a table the migration creates, read as the server will read it
REPORT_EVERY = 30


def probe(url: str, key: str) -> str | None:
    """None when the data API answers the check with 200; otherwise what it answered (or why it did not)."""
    request = urllib.request.Request(url.rstrip("/") + CHECK,
                                     headers={"Authorization": f"Bearer {key}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code} {error.read(200).decode(errors='replace').strip()}"
    except (OSError, ValueError) as error:
        return f"{type(error).__name__}: {getattr(error, 'reason', error)}"


def main() -> int:
    """Poll until the check passes; exit 2 on missing environment."""
    url, key = os.environ.get("DATA_API_URL"), os.environ.get("SUPABASE_SERVICE_KEY")
    if not url or not key:
        print("wait-for-data-api: DATA_API_URL and SUPABASE_SERVICE_KEY must be set", file=sys.stderr)
        return 2
    start = last_report = time.monotonic()
    delay = 1.0
    while (seen := probe(url, key)) is not None:
        now = time.monotonic()
        if now - last_report >= REPORT_EVERY:
            print(f"wait-for-data-api: {url} not serving Archon's schema after {now - start:.0f}s (last: {seen})",
                  flush=True)
            last_report = now
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    print(f"wait-for-data-api: {url} serves Archon's schema (after {time.monotonic() - start:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
