"""The real-engine scenarios need the built toolchain and a running local control plane (make e2e does both)."""

from __future__ import annotations

import pytest

from e2e import harness
from tests.helpers import unavailable


@pytest.fixture(scope="session")
def cluster() -> None:
    """The local control plane, checked once; unavailable (skip here, fail under CI) when it is not up."""
    missing = harness.missing_tools()
    if missing:
        unavailable(f"the real-engine toolchain is not built ({missing[0]} missing): make e2e-tools")
    if not harness.cluster_running():
        unavailable("the local control plane is not running: make cluster-up (or make e2e)")


def pytest_collection_modifyitems(items) -> None:
    """Every test in tests/e2e is an e2e test: `make test` leaves them out, `make e2e` runs only them."""
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
