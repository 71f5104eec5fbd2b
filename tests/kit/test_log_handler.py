"""The log handler writes the lines of one turn of the event loop together, after the turn, in order; without a
running loop (another thread, start-up) at once; and nothing waits in it once it is flushed or closed."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import pytest

from app.kit.logging import TurnBatchedStreamHandler


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def logged() -> tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream]:
    stream = CountingStream()
    handler = TurnBatchedStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test.batched.{id(stream)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger, handler, stream


async def test_the_lines_of_a_turn_are_written_together_after_it(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream],
) -> None:
    logger, _, stream = logged
    for n in range(5):
        logger.info("line %d", n)
    assert stream.getvalue() == ""  # still this turn
    await asyncio.sleep(0)
    assert stream.getvalue() == "".join(f"line {n}\n" for n in range(5)) and stream.writes == 1
    logger.info("next turn")
    await asyncio.sleep(0)
    assert stream.getvalue().endswith("line 4\nnext turn\n") and stream.writes == 2


async def test_a_line_from_another_thread_is_written_at_once_after_those_waiting(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream],
) -> None:
    logger, _, stream = logged
    logger.info("in the loop")
    await asyncio.to_thread(logger.info, "in a thread")
    assert stream.getvalue() == "in the loop\nin a thread\n"


def test_without_a_running_loop_each_line_is_written_at_once(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream],
) -> None:
    logger, _, stream = logged
    logger.info("starting")
    assert stream.getvalue() == "starting\n"
    thread = threading.Thread(target=logger.info, args=("elsewhere",))
    thread.start()
    thread.join()
    assert stream.getvalue() == "starting\nelsewhere\n"


def _in_a_loop_that_stops_before_its_next_turn(log: logging.Logger, message: str) -> None:
    """Log ``message`` in a loop that is stopped (and closed) before the handler's turn comes."""

    async def log_and_stop() -> None:
        log.info(message)
        asyncio.get_running_loop().stop()
        await asyncio.sleep(0)

    loop = asyncio.new_event_loop()
    with pytest.raises(RuntimeError, match="stopped before"):
        loop.run_until_complete(log_and_stop())
    loop.close()


def test_flushing_or_closing_writes_what_waits(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream],
) -> None:
    logger, handler, stream = logged
    _in_a_loop_that_stops_before_its_next_turn(logger, "last words")
    assert stream.getvalue() == ""
    logger.info("in no loop")  # writes what waited, then itself
    assert stream.getvalue() == "last words\nin no loop\n"
    _in_a_loop_that_stops_before_its_next_turn(logger, "at exit")
    handler.flush()
    assert stream.getvalue().endswith("in no loop\nat exit\n")
    _in_a_loop_that_stops_before_its_next_turn(logger, "closed")
    handler.close()  # logging.shutdown() flushes and closes each handler at exit
    assert stream.getvalue().endswith("at exit\nclosed\n")


def test_a_loop_has_its_turn_even_when_an_earlier_loop_closed_before_its_own(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream],
) -> None:
    logger, _, stream = logged
    _in_a_loop_that_stops_before_its_next_turn(logger, "in the old loop")

    async def log_a_turn() -> None:
        logger.info("in the new loop")
        await asyncio.sleep(0)

    asyncio.run(log_a_turn())
    assert stream.getvalue() == "in the old loop\nin the new loop\n"


async def test_a_stream_that_fails_loses_its_lines_not_the_loop(
    logged: tuple[logging.Logger, TurnBatchedStreamHandler, CountingStream], monkeypatch: pytest.MonkeyPatch
) -> None:
    logger, _, stream = logged
    monkeypatch.setattr(logging, "raiseExceptions", False)

    def broken(text: str) -> int:
        raise BrokenPipeError("the reader went away")

    monkeypatch.setattr(stream, "write", broken)
    logger.info("into the void")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    monkeypatch.undo()
    logger.info("back")
    await asyncio.sleep(0)
    assert stream.getvalue() == "back\n"
