"""``app.kit.turns``: one holder per key at a time, in the order they asked, and nothing kept for a key nobody
holds or waits for, whether its holders finished, failed or were cancelled."""

from __future__ import annotations

import asyncio

import pytest

from app.kit.turns import Turns


async def test_holders_of_one_key_take_turns_in_order_and_other_keys_do_not_wait() -> None:
    turns, order, inside = Turns(), [], []

    async def hold(key: str, name: str) -> None:
        async with turns.turn(key):
            inside.append(name)
            assert [n for n in inside if n.startswith(key)] == [name]  # alone with its key
            order.append(name)
            await asyncio.sleep(0.01)
            inside.remove(name)

    await asyncio.gather(*(hold("a", f"a{i}") for i in range(5)), hold("b", "b0"))
    assert [n for n in order if n.startswith("a")] == ["a0", "a1", "a2", "a3", "a4"]
    assert order.index("b0") < order.index("a1")  # b did not wait behind a's turns
    assert len(turns) == 0


async def test_a_failed_or_cancelled_holder_gives_its_turn_up() -> None:
    turns = Turns()
    entered = asyncio.Event()

    async def fail() -> None:
        async with turns.turn("k"):
            raise ValueError("failed inside")

    async def stall() -> None:
        async with turns.turn("k"):
            entered.set()
            await asyncio.sleep(60)

    with pytest.raises(ValueError):
        await fail()
    stalled = asyncio.create_task(stall())
    await entered.wait()
    waiting = asyncio.create_task(fail())
    await asyncio.sleep(0)
    assert len(turns) == 1
    stalled.cancel()
    with pytest.raises(ValueError):
        await waiting  # it got the turn once the cancelled holder let go
    assert len(turns) == 0
    async with asyncio.timeout(1):
        async with turns.turn("k"):
            pass
