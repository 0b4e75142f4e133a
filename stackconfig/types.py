"""Annotated string types for stack config: Kubernetes quantities, DNS names, emails, durations."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from policies.archon_policies import quantities

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_IMAGE_TAG = re.compile(r"^[\w][\w.-]{0,127}$")


def _number_to_str(value: object) -> object:
    """YAML turns `cpu: 2` into an int; quantities are strings on the wire."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _check(parse, hint: str):
    def validate(text: str) -> str:
        try:
            parse(text)
        except quantities.QuantityError as exc:
            raise ValueError(f"{exc}; expected {hint}") from None
        return text
    return validate


def dns_label(text: str) -> str:
    """Check an RFC 1123 label (namespace names, service names)."""
    if len(text) > 63 or not _DNS_LABEL.match(text):
        raise ValueError("is not a DNS label; use at most 63 lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit")
    return text


def dns_subdomain(text: str) -> str:
    """Check an RFC 1123 subdomain (hostnames, storage class names)."""
    labels = text.split(".")
    if len(text) > 253 or not all(len(part) <= 63 and _DNS_LABEL.match(part) for part in labels):
        raise ValueError("is not a DNS name; use lowercase labels of letters, digits and '-' "
                         "separated by dots, at most 253 characters")
    return text


def email(text: str) -> str:
    """Check the shape of an email address."""
    if not _EMAIL.match(text):
        raise ValueError("is not an email address")
    return text


def duration(text: str) -> str:
    """Check a Prometheus-style duration such as 15d or 12h."""
    if not _DURATION.match(text):
        raise ValueError("is not a duration; use a number with ms, s, m, h, d, w or y, such as 15d")
    return text


_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """The length of a checked Prometheus-style duration, in seconds."""
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION_PART.findall(text))


def image_tag(text: str) -> str:
    """Check an image tag and refuse the moving `latest` tag."""
    if not _IMAGE_TAG.match(text):
        raise ValueError("is not an image tag")
    if text == "latest":
        raise ValueError("is a moving tag; pin a version such as v1.2.3")
    return text


Cpu = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(_check(quantities.cpu, quantities.CPU_HINT))]
Memory = Annotated[str, BeforeValidator(_number_to_str),
                   AfterValidator(_check(quantities.memory, quantities.MEMORY_HINT))]
DnsLabel = Annotated[str, AfterValidator(dns_label)]
DnsSubdomain = Annotated[str, AfterValidator(dns_subdomain)]
Email = Annotated[str, AfterValidator(email)]
Duration = Annotated[str, AfterValidator(duration)]
ImageTag = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(image_tag)]
