"""Random ids in the formats n8n's peers use (reference 2.3)."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.protocol.ids import alphanumeric_id, hex_id, nanoid

URL_SAFE = set(string.ascii_letters + string.digits + "_-")


@given(st.integers(min_value=1, max_value=64))
def test_ids_have_the_size_and_alphabet_asked_for(size: int) -> None:
    assert len(nanoid(size)) == size and set(nanoid(size)) <= URL_SAFE
    assert len(alphanumeric_id(size)) == size and alphanumeric_id(size).isalnum()
    assert len(hex_id(size)) == size and set(hex_id(size)) <= set("0123456789abcdef")


def test_nanoid_uses_its_whole_alphabet() -> None:
    seen = set("".join(nanoid() for _ in range(500)))
    assert seen == URL_SAFE


def test_ids_do_not_repeat() -> None:
    assert len({nanoid(8) for _ in range(1000)}) == 1000
