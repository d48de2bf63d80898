"""Strict reading of command-line values.

A number is a token C's ``strtod`` reads whole (decimal or hexadecimal, ``inf``); Python-only
spellings (``1_0``, surrounding spaces, full-width digits) are refused, as is NaN. An integer
is such a number with an integral value (``1e3`` is 1000). Seeds are integers in the range
nanoBragg.c reads them in (``-atoi``: a C int, negated).
"""

from __future__ import annotations

import math

from .errors import UsageError

# Hexadecimal and special spellings are rare: their patterns (and the re module, a few ms of
# the command's start-up) are only loaded for a token that is not a plain decimal.
_HEX = r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
_SPECIAL = r"[+-]?(?:inf|infinity|nan(?:\([0-9A-Za-z_]*\))?)"
_DIGITS = frozenset("0123456789")


def _digits(token: str, i: int) -> int:
    """The index after the run of ASCII digits starting at ``i``."""
    while i < len(token) and token[i] in _DIGITS:
        i += 1
    return i


def _is_decimal(token: str) -> bool:
    """``[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?``, all of ``token``, ASCII only."""
    i = 1 if token[:1] in ("+", "-") else 0
    j = _digits(token, i)
    whole = j > i
    if token[j : j + 1] == ".":
        k = _digits(token, j + 1)
        if not whole and k == j + 1:
            return False
        j = k
    elif not whole:
        return False
    if token[j : j + 1] in ("e", "E"):
        k = j + 2 if token[j + 1 : j + 2] in ("+", "-") else j + 1
        j = _digits(token, k)
        if j == k:
            return False
    return j == len(token)

#: Largest integer magnitude: nanoBragg.c reads integers with atoi (a C int) and negates
#: seeds (INT_MIN cannot be negated).
INT_MAX = 2**31 - 1
SEED_MAX = INT_MAX


def parse_float(token: str) -> float | None:
    """The value of ``token`` if strtod reads all of it, else None (NaN is returned as NaN)."""
    if _is_decimal(token):
        return float(token)
    import re

    if re.fullmatch(_HEX, token, re.ASCII):
        body = token.lstrip("+-")
        value = float.fromhex(body if "p" in body.lower() else body + "p0")
        return -value if token.startswith("-") else value
    if re.fullmatch(_SPECIAL, token, re.ASCII | re.IGNORECASE):
        return math.nan if "nan" in token.lower() else float(token)
    return None


def is_number(token: str) -> bool:
    """Whether ``token`` reads as a number (used to tell values from flags)."""
    return parse_float(token) is not None


def number(flag: str, token: str) -> float:
    """A real number (infinities allowed, NaN refused)."""
    x = parse_float(token)
    if x is None or math.isnan(x):
        raise UsageError(f"{flag}: '{token}' is not a number")
    return x


def finite(flag: str, token: str) -> float:
    """A finite real number."""
    x = number(flag, token)
    if not math.isfinite(x):
        raise UsageError(f"{flag}: '{token}' is not a finite number")
    return x


def integer(flag: str, token: str, minimum: int | None = None) -> int:
    """A whole number (``1e3`` counts) that fits a C int; ``minimum`` bounds it from below."""
    x = number(flag, token)
    if not math.isfinite(x) or x != int(x):
        raise UsageError(f"{flag}: '{token}' is not an integer")
    n = int(x)
    if abs(n) > INT_MAX:
        raise UsageError(f"{flag}: '{token}' is out of range (at most {INT_MAX} in magnitude)")
    if minimum is not None and n < minimum:
        raise UsageError(f"{flag}: must be at least {minimum}, not {n}")
    return n


def seed(flag: str, token: str) -> int:
    """A random-number seed: an integer of at most 2147483647 in magnitude."""
    x = number(flag, token)
    n = int(x) if math.isfinite(x) and x == int(x) else None
    if n is None:
        raise UsageError(f"{flag}: '{token}' is not an integer")
    if abs(n) > SEED_MAX:
        raise UsageError(f"{flag}: '{token}' is out of range (seeds are integers from -{SEED_MAX} to {SEED_MAX})")
    return n
