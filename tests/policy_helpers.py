"""Helpers for policy tests: run rules on plain manifests, find the conformance fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from policies.archon_policies.catalog import BY_NAME
from policies.archon_policies.subject import Subject, Violation
from tests.conftest import ROOT

CONFORMANCE_ENV = "PSS_CONFORMANCE_DIR"
CONFORMANCE_DEFAULT = ROOT.parent / "shared" / "conformance" / "pss-restricted-v1.37"


def conformance_dir() -> Path | None:
    """The fixtures folder; a missing one skips locally and fails under CI=true."""
    path = Path(os.environ.get(CONFORMANCE_ENV, CONFORMANCE_DEFAULT))
    if (path / "pass").is_dir() and (path / "fail").is_dir():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"conformance fixtures not found at {path} (set {CONFORMANCE_ENV})")
    return None


def subject(obj: dict, type_: str | None = None, protect: bool = False, provider_namespace: str | None = None,
            name: str = "test") -> Subject:
    """A Kubernetes object as the pack sees it."""
    group_version = obj.get("apiVersion", "v1")
    group, _, version = group_version.rpartition("/")
    type_ = type_ or f"kubernetes:{group or 'core'}/{version}:{obj.get('kind')}"
    return Subject(type=type_, name=name, urn=f"urn:pulumi:test::p::{type_}::{name}", props=obj, protect=protect,
                   provider_namespace=provider_namespace)


def run(rule: str, obj: dict, config: dict | None = None, **kwargs) -> list[Violation]:
    """Violations of one resource rule on one object."""
    return BY_NAME[rule].check(subject(obj, **kwargs), config or {})


def messages(rule: str, obj: dict, config: dict | None = None, **kwargs) -> list[str]:
    return [v.message for v in run(rule, obj, config, **kwargs)]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
