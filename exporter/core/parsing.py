"""Strict parsing of untrusted text: integers of ASCII digits, and patterns that hold for the whole string.

Two traps this module exists to close, each once for the whole code base:

- ``int()`` and ``str.isdigit()`` accept more than ``0-9``: ``int("٣")`` is 3, ``int(" 7 ")`` is 7,
  ``int("1_000")`` is 1000, and ``"²".isdigit()`` is true while ``int("²")`` raises. A query
  parameter or environment variable is a number only when it is ASCII digits (``ascii_int``).
- In Python's ``re``, ``$`` also matches before a final newline, so ``re.match("^[a-z]+$", "ab\\n")``
  succeeds; msgspec's ``pattern`` constraint searches the same way. A name that ends in ``\\n``
  then reaches a Prometheus exposition and makes the whole scrape invalid. Every check of a
  name, id or enum uses ``fullmatch`` on a pattern without anchors (``whole``), and every
  pattern handed to msgspec or written into JSON Schema goes through ``schema_pattern``,
  which anchors it so that Python and ECMAScript (JSON Schema's dialect) read it the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from exporter.core.errors import BadRequest

_DIGITS: Final = re.compile(r"[0-9]{1,30}")
_DECIMAL: Final = re.compile(r"[0-9]{1,30}(?:\.[0-9]{1,30})?")


def whole(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` compiled for ``fullmatch``, ASCII only (``\\d`` is ``[0-9]``, ``\\s`` no exotic spaces).

    It must carry no ``^``/``$`` anchors of its own: ``fullmatch`` anchors both ends.
    """
    if pattern.startswith("^") or pattern.endswith("$"):
        raise ValueError(f"pattern {pattern!r}: leave out ^ and $, fullmatch anchors both ends")
    return re.compile(pattern, flags | re.ASCII)


def schema_pattern(pattern: str) -> str:
    """``pattern`` anchored for ``re.search`` (msgspec) and for JSON Schema alike.

    ``(?![\\s\\S])`` is "no character follows": the end of the string in both dialects, where
    ``$`` alone would let Python accept a trailing newline.
    """
    return rf"^(?:{pattern})(?![\s\S])"


def ascii_int(raw: str) -> int | None:
    """The value of ``raw`` if it is 1-30 ASCII digits (nothing else: no sign, space or ``_``), else None."""
    return int(raw) if _DIGITS.fullmatch(raw) else None


def ascii_decimal(raw: str) -> float | None:
    """The value of ``raw`` if it is ASCII digits with an optional fraction (``12``, ``12.5``), else None."""
    return float(raw) if _DECIMAL.fullmatch(raw) else None


def int_param(params: Mapping[str, str], name: str, *, minimum: int = 1, maximum: int) -> int | None:
    """Query parameter ``name`` as an integer in ``[minimum, maximum]``; None when absent or empty; else a 400."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    value = ascii_int(raw)
    if value is None:
        raise BadRequest(f"{name} must be an integer written in ASCII digits", slug="invalid-parameter")
    if not minimum <= value <= maximum:
        raise BadRequest(f"{name} must be between {minimum} and {maximum}", slug="invalid-parameter")
    return value
