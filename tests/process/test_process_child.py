"""run_child with real processes: exit status, output lines, group shutdown."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import pytest
import trio
from process_helpers import (
    HANG_GUARD,
    Output,
    python,
    say_line,
    sleeper,
    wait_gone,
    with_grandchild,
)

from trio_launcher.process import ChildProcess, ExitStatus, SpawnError, run_child


async def start_then_cancel(
    command: list[str],
    output: Output,
    grace_period: float = 10.0,
    ready: Sequence[str] = ("ready",),
) -> ChildProcess:
    """Start ``command``, wait for its ``ready`` lines, cancel run_child, return the handle.

    Also checks that run_child lets a plain trio.Cancelled (not a group) propagate.
    """
    raised: list[BaseException] = []

    async def run(task_status: trio.TaskStatus[ChildProcess]) -> None:
        try:
            await run_child(
                command, on_output=output, grace_period=grace_period, task_status=task_status
            )
        except BaseException as exc:
            raised.append(exc)
            raise

    async with trio.open_nursery() as nursery:
        child: ChildProcess = await nursery.start(run)
        for line in ready:
            await output.wait_for(line)
        nursery.cancel_scope.cancel()
    assert [type(exc) for exc in raised] == [trio.Cancelled]
    return child


def answer_usr1(name: str) -> str:
    """Code that says it is ready, then prints a line for each SIGUSR1 it gets."""
    # sigwait on a blocked signal: a handler + pause() would lose an early signal.
    return f"""
import os, signal
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGUSR1}})
{say_line(f"{name} ready")}
while True:
    signal.sigwait({{signal.SIGUSR1}})
    {say_line(f"{name} got USR1")}
"""


# -- exit status ------------------------------------------------------------


async def test_exit_code_is_reported() -> None:
    status = await run_child(python("import sys; sys.exit(3)"))
    assert status == ExitStatus(returncode=3)
    assert not status.ok
    assert status.describe() == "exit code 3"


async def test_clean_exit_is_ok() -> None:
    status = await run_child(python("pass"))
    assert status.ok
    assert str(status) == "exit code 0"


async def test_death_by_signal_is_reported() -> None:
    status = await run_child(python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert status == ExitStatus(signal=signal.SIGKILL)
    assert not status.ok
    assert status.describe() == "killed by SIGKILL"


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [(0, ExitStatus(returncode=0)), (2, ExitStatus(returncode=2)), (-15, ExitStatus(signal=15))],
)
def test_exit_status_from_subprocess_returncode(returncode: int, expected: ExitStatus) -> None:
    assert ExitStatus.from_returncode(returncode) == expected


@pytest.mark.parametrize("fields", [{}, {"returncode": 0, "signal": 9}])
def test_exit_status_needs_exactly_one_field(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ExitStatus(**fields)


# -- output -----------------------------------------------------------------


async def test_output_arrives_as_lines_tagged_with_their_stream() -> None:
    output = Output()
    code = r"""
        import sys
        print("first")
        print()
        print("   ")
        sys.stderr.write("oops\r\n")
        print("  indented")
        sys.stdout.write("no newline at the end")
    """
    await run_child(python(code), on_output=output)
    assert output.of("stdout") == ["first", "  indented", "no newline at the end"]
    assert output.of("stderr") == ["oops"]


async def test_invalid_utf8_is_replaced() -> None:
    output = Output()
    code = r"import sys; sys.stdout.buffer.write(b'caf\xc3\xa9 \xff\n')"
    await run_child(python(code), on_output=output)
    assert output.of("stdout") == ["café \ufffd"]


async def test_very_long_lines_are_split() -> None:
    output = Output()
    await run_child(python("print('x' * 150_000)"), on_output=output)
    assert [len(line) for line in output.of("stdout")] == [65536, 65536, 150_000 - 2 * 65536]


async def test_output_of_a_child_that_exits_at_once_is_not_lost() -> None:
    output = Output()
    status = await run_child(python("print('only line')"), on_output=output)
    assert status.ok
    assert output.lines == [("stdout", "only line")]


async def test_stdin_env_and_cwd(tmp_path: Path) -> None:
    output = Output()
    code = "import os, sys; print(repr(sys.stdin.read()), os.environ['GREETING'], os.getcwd())"
    await run_child(python(code), env={"GREETING": "hello"}, cwd=tmp_path, on_output=output)
    assert output.of("stdout") == [f"'' hello {tmp_path}"]


# -- the handle -------------------------------------------------------------


async def test_handle_signals_the_whole_group_and_terminates_it() -> None:
    output = Output()
    grandchild = answer_usr1("grandchild")
    leader = answer_usr1("leader")
    with trio.fail_after(HANG_GUARD):
        async with trio.open_nursery() as nursery:
            child: ChildProcess = await nursery.start(
                partial(run_child, with_grandchild(grandchild, leader), on_output=output)
            )
            assert child.pgid == child.pid == os.getpgid(child.pid) == os.getsid(child.pid)
            assert child.started_at <= trio.current_time()
            assert child.status is None
            await output.wait_for("leader ready")
            await output.wait_for("grandchild ready")
            child.send_signal(signal.SIGUSR1)
            await output.wait_for("leader got USR1")
            await output.wait_for("grandchild got USR1")
            status = await child.terminate()
    assert status == child.status == ExitStatus(signal=signal.SIGTERM)
    child.send_signal(signal.SIGKILL)  # the child is gone: a no-op, not an error


# -- cancellation -----------------------------------------------------------


async def test_cancel_gives_the_child_a_graceful_shutdown() -> None:
    output = Output()
    code = """
        import signal
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        print("ready")
        signal.sigwait({signal.SIGTERM})
        print("cleaning up")
    """
    with trio.fail_after(HANG_GUARD):
        child = await start_then_cancel(python(code), output, grace_period=HANG_GUARD * 2)
    assert child.status == ExitStatus(returncode=0)
    assert output.of("stdout")[-1] == "cleaning up"


async def test_cancel_kills_a_child_that_ignores_sigterm() -> None:
    code = sleeper(ignore_term=True, say="ready")
    with trio.fail_after(HANG_GUARD):
        child = await start_then_cancel(python(code), Output(), grace_period=0.1)
    assert child.status == ExitStatus(signal=signal.SIGKILL)


async def test_cancel_kills_grandchildren_in_the_group() -> None:
    output = Output()
    grandchild = sleeper(ignore_term=True, say="grandchild ready")
    command = with_grandchild(grandchild, then=sleeper(say="leader ready"))
    with trio.fail_after(HANG_GUARD):
        child = await start_then_cancel(command, output, ready=["leader ready", "grandchild ready"])
        await wait_gone(int(await output.wait_for("grandchild pid")))
    assert child.status == ExitStatus(signal=signal.SIGTERM)


async def test_failing_output_callback_stops_the_child() -> None:
    pids = []

    def fail(stream: str, line: str) -> None:
        pids.append(int(line))
        raise RuntimeError("callback failed")

    code = "import os, signal; print(os.getpid()); signal.pause()"
    with trio.fail_after(HANG_GUARD), pytest.raises(RuntimeError, match="callback failed"):
        await run_child(python(code), on_output=fail)
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)  # reaped, not just killed


# -- exits while a pipe is still open -----------------------------------------


async def test_grandchild_holding_stdout_is_killed_when_the_leader_exits() -> None:
    output = Output()
    command = with_grandchild(sleeper(), then="print('bye'); sys.exit(4)")
    with trio.fail_after(HANG_GUARD):
        status = await run_child(command, on_output=output)
        await wait_gone(int(await output.wait_for("grandchild pid")))
    assert status == ExitStatus(returncode=4)
    assert output.of("stdout")[-1] == "bye"


async def test_escaped_grandchild_holding_stdout_does_not_hang_run_child() -> None:
    output = Output()
    command = with_grandchild(sleeper(), then="print('bye')", escape=True)
    try:
        with trio.fail_after(HANG_GUARD):
            status = await run_child(command, on_output=output)
    finally:
        if (escaped := output.find("grandchild pid")) is not None:
            os.kill(int(escaped), signal.SIGKILL)
    assert status.ok
    assert output.of("stdout")[-1] == "bye"


# -- spawn errors -------------------------------------------------------------


async def test_missing_executable_is_a_spawn_error() -> None:
    with pytest.raises(SpawnError, match="no-such-program-xyz") as caught:
        await run_child(["no-such-program-xyz", "--flag"])
    assert isinstance(caught.value, OSError)
    assert caught.value.errno == errno.ENOENT
    assert caught.value.command == ("no-such-program-xyz", "--flag")


async def test_bad_working_directory_is_a_spawn_error() -> None:
    with pytest.raises(SpawnError, match="/no/such/dir") as caught:
        await run_child(python("pass"), cwd="/no/such/dir")
    assert caught.value.cwd == "/no/such/dir"
