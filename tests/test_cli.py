"""The command line (SPEC §21 "Command line"): ``create-operator`` reads the password from a prompt or from
standard input when ``--password`` is left out (an argument is visible to every user in ``ps``), and every
option of every command says what it is for."""

from __future__ import annotations

import argparse
import http.client
import io
import os
import pty
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import cli
from app.kit.security import verify_password
from tests.conftest import SECRET
from tests.live import accept_queue, live_server

ROOT = Path(__file__).resolve().parents[1]


def _env(database: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    return {
        **clean,
        "EXCHANGE_ENV": "test",
        "EXCHANGE_SECRET_KEY": SECRET,
        "EXCHANGE_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
    }


def _run(database: Path, *args: str, stdin: str | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=_env(database),
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def _operators(database: Path) -> dict[str, str]:
    """email → password hash of every operator in the database (none when it was never created)."""
    if not database.exists():
        return {}
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT email, password_hash FROM users WHERE role = 'operator'").fetchall()
    return dict(rows)


def test_create_operator_reads_the_password_from_standard_input(tmp_path: Path) -> None:
    database = tmp_path / "exchange.db"
    # The first line, exactly as typed (SPEC §20: no trimming) but for its line ending.
    password = "  运营口令 operator-1 "
    result = _run(
        database, "create-operator", "--email", "Ops@Exchange.example.cn", stdin=f"{password}\r\nnext\n"
    )
    assert result.returncode == 0, result.stderr
    assert "ops@exchange.example.cn" in result.stdout
    assert password not in result.stdout + result.stderr
    hashes = _operators(database)
    assert list(hashes) == ["ops@exchange.example.cn"]
    assert verify_password(password, hashes["ops@exchange.example.cn"])
    assert not verify_password(password.strip(), hashes["ops@exchange.example.cn"])


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "no password"),
        ("\n", "at least 10 characters"),
        ("short\n", "at least 10 characters"),
        ("x" * 257 + "\n", "at most 256 characters"),
        ("with-a-nul-\x00-inside\n", "NUL"),
    ],
)
def test_a_password_from_standard_input_is_checked_before_anything_is_written(
    tmp_path: Path, stdin: str, message: str
) -> None:
    database = tmp_path / "exchange.db"
    result = _run(database, "create-operator", "--email", "ops@exchange.example.cn", stdin=stdin)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert _operators(database) == {}


def test_the_password_option_still_works(tmp_path: Path) -> None:
    database = tmp_path / "exchange.db"
    result = _run(
        database,
        "create-operator",
        "--email",
        "ops@exchange.example.cn",
        "--password",
        "operator-pass-1",
        stdin="",
    )
    assert result.returncode == 0, result.stderr
    assert verify_password("operator-pass-1", _operators(database)["ops@exchange.example.cn"])
    # A second operator of the same email is refused, without a traceback.
    result = _run(
        database, "create-operator", "--email", "ops@exchange.example.cn", stdin="operator-pass-2\n"
    )
    assert result.returncode != 0 and "already" in result.stderr and "Traceback" not in result.stderr


def test_at_a_real_terminal_the_password_is_asked_twice_and_never_echoed(tmp_path: Path) -> None:
    """The command runs in a pseudo-terminal, as an operator typing at a console would."""
    database = tmp_path / "exchange.db"
    argv = [sys.executable, "-m", "app", "create-operator", "--email", "tty@exchange.example.cn"]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: exec at once (nothing else runs between fork and exec)
        os.chdir(ROOT)
        os.execve(sys.executable, argv, _env(database))
    seen = b""

    def read_until(marker: bytes | None) -> None:
        nonlocal seen
        while marker is None or marker not in seen:
            ready, _, _ = select.select([terminal], [], [], 60)
            assert ready, f"no {marker!r} from the command: {seen!r}"
            try:
                chunk = os.read(terminal, 1024)
            except OSError:  # the command ended (EIO on Linux)
                chunk = b""
            if not chunk:
                assert marker is None, f"the command ended before {marker!r}: {seen!r}"
                return
            seen += chunk

    try:
        read_until(b"Password: ")
        os.write(terminal, "终端口令 operator-1\n".encode())
        read_until(b"Repeat the password: ")
        os.write(terminal, "终端口令 operator-1\n".encode())
        read_until(None)
    finally:
        os.close(terminal)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert "终端口令".encode() not in seen, "the password was echoed"
    assert b"operator created: tty@exchange.example.cn" in seen
    assert verify_password("终端口令 operator-1", _operators(database)["tty@exchange.example.cn"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_at_a_terminal_the_password_is_asked_twice_without_echo(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    answers = iter(["operator-pass-1", "operator-pass-1", "operator-pass-1", "operator-pass-2"])

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(cli.getpass, "getpass", getpass)
    monkeypatch.setattr(sys, "stdin", _Terminal("never read\n"))
    assert cli.read_password(None) == "operator-pass-1"
    assert len(prompts) == 2 and prompts[0] != prompts[1]
    with pytest.raises(SystemExit, match="do not match"):
        cli.read_password(None)
    # --password is taken as given, whatever stdin is.
    assert cli.read_password("given-password") == "given-password"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(actions) == 1
    return dict(actions[0].choices)


def test_every_command_and_option_has_help_text() -> None:
    parser = cli.build_parser()
    commands = _subcommands(parser)
    assert {"serve", "migrate", "create-operator", "seed-demo"} <= set(commands)
    helps = {a.dest: a.help for a in parser._actions if isinstance(a, argparse._SubParsersAction)}
    assert all(helps.values())
    listed = {
        choice.dest: choice.help
        for a in parser._actions
        if isinstance(a, argparse._SubParsersAction)
        for choice in a._choices_actions
    }
    assert set(listed) == set(commands) and all(listed.values()), listed
    missing = [
        f"{name} {'/'.join(action.option_strings)}"
        for name, command in commands.items()
        for action in command._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []
    password = next(a for a in commands["create-operator"]._actions if "--password" in a.option_strings)
    assert not password.required and "ps" in (password.help or "")


def test_serve_keeps_an_idle_connection_as_long_as_configured(tmp_path: Path) -> None:
    """``serve`` passes ``EXCHANGE_KEEP_ALIVE_SECONDS`` to uvicorn (whose own default, 5 s, is below any proxy's
    idle timeout): a connection left idle for 6 s still answers its next request."""
    with live_server("sqlite", tmp_path, serve_command=True, keep_alive_seconds="8") as live:
        host, port = live.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", "/healthz")
            first = conn.getresponse()
            assert first.status == 200 and not first.will_close
            first.read()
            opened = conn.sock
            time.sleep(6)
            conn.request("GET", "/healthz")  # on the same socket: a closed one fails with RemoteDisconnected
            assert conn.sock is opened
            assert conn.getresponse().status == 200
        finally:
            conn.close()


def test_serve_accepts_every_waiting_connection_at_once(tmp_path: Path) -> None:
    """Connections that arrive while the server is busy are all accepted the next time its loop looks for
    them, not one per turn of the loop (libuv, and so uvloop, accepts one per turn; under load a turn lasts as
    long as the work of every request then in progress, and the last connections of a burst of 64 waited
    seconds to be accepted). The server is stopped while 200 connections are made, each sending a request;
    once it has answered the first of them, none is left waiting to be accepted, and each is answered."""
    with live_server("sqlite", tmp_path, serve_command=True) as live:
        port = int(live.base.rsplit(":", 1)[1])
        clients: list[socket.socket] = []
        os.kill(live.pid, signal.SIGSTOP)
        try:
            for _ in range(200):
                client = socket.create_connection(("127.0.0.1", port), timeout=30)
                client.sendall(b"GET /healthz HTTP/1.1\r\nHost: exchange\r\n\r\n")
                clients.append(client)
            assert accept_queue(port) == 200
        finally:
            os.kill(live.pid, signal.SIGCONT)
        try:
            answered, _, _ = select.select(clients, [], [], 30)
            assert answered, "no answer in 30 s"
            assert accept_queue(port) == 0
            for client in clients:
                assert client.recv(64).startswith(b"HTTP/1.1 200 ")
        finally:
            for client in clients:
                client.close()
