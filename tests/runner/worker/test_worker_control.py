"""The records on the runner's control socket to its worker."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_launcher.runner.worker import control

KINDS = [control.RUN, control.KILL, control.READY, control.STARTED]
KINDS += [control.FAILED, control.EXITED, control.ERROR]
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@given(st.sampled_from(KINDS), INT64, INT64, INT64, st.text())
def test_records_round_trip(kind: bytes, task: int, pid: int, value: int, text: str) -> None:
    decoded = control.unpack(control.pack(kind, task, pid, value, text))
    assert decoded == (kind, task, pid, value, text.encode("utf-8", "replace").decode())


@given(st.binary(max_size=control.RECORD.size - 1))
def test_a_short_record_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="control record"):
        control.unpack(data)


def test_the_kinds_are_distinct_single_bytes() -> None:
    assert len(set(KINDS)) == len(KINDS)
    assert all(len(kind) == 1 for kind in KINDS)
