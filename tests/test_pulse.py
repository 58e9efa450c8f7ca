"""Pulse: it wakes whoever waits at the time, every one of them, and keeps nothing for later."""

from __future__ import annotations

import trio
import trio.testing

from trio_launcher.pulse import Pulse


async def test_fire_wakes_every_waiting_task() -> None:
    pulse = Pulse()
    woken: list[int] = []

    async def wait(number: int) -> None:
        await pulse.wait()
        woken.append(number)

    async with trio.open_nursery() as nursery:
        for number in range(3):
            nursery.start_soon(wait, number)
        await trio.testing.wait_all_tasks_blocked()
        assert pulse.waiting() == 3 and woken == []
        pulse.fire()
    assert sorted(woken) == [0, 1, 2]


async def test_a_fire_with_nobody_waiting_is_not_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pulse = Pulse()
    pulse.fire()
    with trio.move_on_after(1) as waited:
        await pulse.wait()
    assert waited.cancelled_caught


async def test_a_task_that_waits_after_a_fire_waits_for_the_next() -> None:
    pulse = Pulse()
    rounds: list[str] = []

    async def wait_twice() -> None:
        await pulse.wait()
        rounds.append("first")
        await pulse.wait()
        rounds.append("second")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_twice)
        await trio.testing.wait_all_tasks_blocked()
        pulse.fire()
        await trio.testing.wait_all_tasks_blocked()
        assert rounds == ["first"]
        pulse.fire()
    assert rounds == ["first", "second"]


async def test_a_cancelled_waiter_leaves(autojump_clock: trio.testing.MockClock) -> None:
    pulse = Pulse()
    with trio.move_on_after(1):
        await pulse.wait()
    assert pulse.waiting() == 0
