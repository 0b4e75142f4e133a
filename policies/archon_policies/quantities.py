"""Kubernetes resource quantities (`250m`, `512Mi`, `2Gi`), parsed the way the API server parses them.

It lives in the policy pack because the pack must stand alone; the program's config validation
imports it from here, so there is one parser.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
# The API server's grammar: a signed decimal number, then a binary SI, decimal SI or exponent suffix.
_QUANTITY = re.compile(r"^(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
                       r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")

CPU_HINT = "a CPU quantity such as 250m, 0.5 or 2"
MEMORY_HINT = "a memory quantity with a binary suffix such as 512Mi or 2Gi (Ki, Mi, Gi, Ti; or k, M, G, T)"


class QuantityError(ValueError):
    """A value that is not a valid Kubernetes quantity of the expected kind; the message omits the value."""


def parse_quantity(text: str) -> Decimal:
    """Return the value of a Kubernetes quantity in base units (cores, bytes)."""
    if not isinstance(text, str):
        text = str(text)
    match = _QUANTITY.match(text.strip())
    if not match or text != text.strip():
        raise QuantityError("is not a Kubernetes quantity")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError("is not a Kubernetes quantity") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


# Kubernetes keeps a quantity as a signed 64-bit count of its smallest unit; a config beyond that is a mistake.
MAX_BYTES = Decimal(2**63 - 1)
MAX_CORES = Decimal(2**63 - 1) / 1000


def cpu(text: str | int | float) -> Decimal:
    """Parse a CPU quantity; it must be positive."""
    value = parse_quantity(str(text))
    if value <= 0:
        raise QuantityError("must be greater than zero")
    if value > MAX_CORES:
        raise QuantityError("is larger than Kubernetes can hold (at most 9223372036854775807m)")
    if value < Decimal("0.001"):
        raise QuantityError("is below 1m, the smallest CPU amount Kubernetes allocates")
    return value


def memory(text: str | int) -> Decimal:
    """Parse a memory or storage quantity; it must be a positive whole number of bytes."""
    value = parse_quantity(str(text))
    if value <= 0:
        raise QuantityError("must be greater than zero")
    if value > MAX_BYTES:
        raise QuantityError("is larger than Kubernetes can hold (below 8Ei)")
    if value != value.to_integral_value():
        raise QuantityError("is a fraction of a byte (use Mi or Gi, not m)")
    return value


def format_bytes(value: Decimal) -> str:
    """The shortest exact binary form of a byte count: 32Gi, 8320Mi, 1536Ki."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if value >= unit and value % unit == 0:
            return f"{value // unit}{suffix}"
    return f"{value}"
