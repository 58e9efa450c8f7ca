"""Mailbox: items come out in order, a waiting reader wakes, a cancelled one loses nothing."""

from __future__ import annotations

import trio
import trio.testing

from trio_launcher.mailbox import Mailbox


async def test_items_come_out_in_the_order_they_were_put() -> None:
    mailbox: Mailbox[int] = Mailbox()
    for item in range(3):
        mailbox.put(item)
    assert [await mailbox.get() for _ in range(3)] == [0, 1, 2]


async def test_get_waits_for_the_next_put() -> None:
    mailbox: Mailbox[str] = Mailbox()
    got: list[str] = []

    async def read() -> None:
        got.append(await mailbox.get())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        assert got == []
        mailbox.put("hello")
    assert got == ["hello"]


async def test_a_cancelled_get_leaves_later_items_for_the_next_one() -> None:
    mailbox: Mailbox[str] = Mailbox()
    with trio.move_on_after(0.01) as scope:
        await mailbox.get()
    assert scope.cancelled_caught
    mailbox.put("after")
    assert await mailbox.get() == "after"


async def test_get_is_a_checkpoint_even_with_an_item_waiting() -> None:
    mailbox: Mailbox[int] = Mailbox()
    mailbox.put(1)
    with trio.CancelScope() as scope:
        scope.cancel()
        await mailbox.get()
    assert scope.cancelled_caught
    assert await mailbox.get() == 1


async def test_get_all_takes_every_waiting_item_in_order() -> None:
    mailbox: Mailbox[int] = Mailbox()
    got: list[list[int]] = []

    async def reader() -> None:
        got.append(await mailbox.get_all())
        got.append(await mailbox.get_all())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        mailbox.put(1)
        mailbox.put(2)  # before the reader runs: both in one batch
        await trio.testing.wait_all_tasks_blocked()
        mailbox.put(3)
    assert got == [[1, 2], [3]]
