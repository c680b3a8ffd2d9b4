"""API token format: ``tex_<32 base62 random>_<6 base62 CRC32>``.

A fixed prefix lets secret scanners find leaked tokens; the CRC32 checksum lets the
service (and a scanner) reject mistyped or made-up tokens without touching the store,
as Grafana (``glsa_..._crc32``) and GitHub tokens do. The store keeps only SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

from exporter.core.parsing import whole

PREFIX = "tex_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SECRET_LEN = 32
_CHECK_LEN = 6
TOKEN_RE = whole(rf"{PREFIX}[0-9A-Za-z]{{{_SECRET_LEN}}}_[0-9A-Za-z]{{{_CHECK_LEN}}}")


def _base62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), _CHECK_LEN)


def new_token() -> str:
    body = PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LEN))
    return f"{body}_{_checksum(body)}"


def well_formed(token: str) -> bool:
    """True when ``token`` has our shape and a valid checksum (cheap; no store access)."""
    if not TOKEN_RE.fullmatch(token):
        return False
    body, _, check = token.rpartition("_")
    return secrets.compare_digest(_checksum(body), check)


def same_secret(presented: str, expected: str) -> bool:
    """Whether a secret sent in a header equals ``expected``, compared as bytes in constant time.

    aiohttp decodes header bytes that are not UTF-8 into lone surrogates, which ``str.encode()``
    refuses; ``surrogateescape`` turns them back into the bytes that were sent.
    """
    return secrets.compare_digest(presented.encode("utf-8", "surrogateescape"),
                                  expected.encode("utf-8", "surrogateescape"))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def hint(token: str) -> str:
    """What listings show of a token: the prefix and four characters, never the secret."""
    return token[: len(PREFIX) + 4] + "…"


def new_key_id() -> str:
    return "key_" + secrets.token_hex(6)
