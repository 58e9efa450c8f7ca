"""Random identifiers in the formats n8n's peers use (reference 2.3)."""

from __future__ import annotations

import secrets

__all__ = ["alphanumeric_id", "hex_id", "nanoid"]

_NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ALPHANUMERIC = _NANOID_ALPHABET[2:]
#: Byte ``b`` -> the alphabet's character ``b & 63``, for :meth:`bytes.translate`.
_NANOID_TABLE = bytes(ord(_NANOID_ALPHABET[b & 63]) for b in range(256))


def nanoid(size: int = 21) -> str:
    """A URL-safe random id, like n8n's nanoid (task ids use ``size=8``).

    The alphabet has exactly 64 characters, so masking random bytes with 63
    keeps every character equally likely.
    """
    return secrets.token_bytes(size).translate(_NANOID_TABLE).decode("ascii")


def hex_id(size: int = 16) -> str:
    """A lowercase hex random id of ``size`` characters (the launcher's ids)."""
    return secrets.token_hex((size + 1) // 2)[:size]


def alphanumeric_id(size: int = 22) -> str:
    """A random ``[A-Za-z0-9]`` id, like n8n's Python runner ids (22 characters)."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(size))
