"""The README's policy table is the one the pack generates, so reviewers read the real levels."""

from __future__ import annotations

import re

from scripts.rules_table import table
from tests.conftest import ROOT


def test_readme_rule_table_matches_the_pack():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- rules:start -->\n(.*?)\n<!-- rules:end -->", readme, re.S)
    assert match, "README lost its rules table markers"
    assert match[1] == table(), "README rule table is stale: paste the output of `make rules-table`"
