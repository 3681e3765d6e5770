"""Start-up checks: every mistake a user can make when starting streamdb (a config file that
cannot be read, a missing queries file, a port already taken, a data directory another process
holds) becomes a `StartupError` whose message is one line naming the problem and the fix, which
`streamdb` prints instead of a traceback (`exit_cleanly`)."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from sqlengine.log.base import LogInUseError


class StartupError(Exception):
    """A start-up mistake: the message is the one line streamdb prints before exiting."""


def read_lines(path: str, what: str) -> list[tuple[int, str]]:
    """The numbered lines of a properties-style file that are neither blank nor `#`/`!`
    comments; `what` names the file in the error when it cannot be read."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"cannot read the {what} {path}: {_reason(exc)}") from exc
    stripped = ((number, line.strip()) for number, line in enumerate(text.splitlines(), 1))
    return [(n, line) for n, line in stripped if line and not line.startswith(("#", "!"))]


def read_config(path: str | None) -> dict[str, str]:
    """A Java-style properties file: `name=value` (or `name: value`) lines, `#`/`!` comments."""
    if path is None:
        return {}
    config: dict[str, str] = {}
    for number, line in read_lines(path, "--config file"):
        separator = min((line.find(c) for c in "=:" if c in line), default=-1)
        if separator <= 0:
            raise StartupError(f"{path}: line {number}: expected `name=value`, found {line[:60]!r}")
        config[line[:separator].strip()] = line[separator + 1 :].strip()
    return config


def sql_files(paths: list[str]) -> list[Path]:
    """.sql files named directly or found in folders, folders' files in name order."""
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise StartupError(f"--queries {p}: no such file or folder")
        files.extend(sorted(p.glob("*.sql")) if p.is_dir() else [p])
    for file in files:
        try:
            file.read_bytes()
        except OSError as exc:
            raise StartupError(f"cannot read the queries file {file}: {_reason(exc)}") from exc
    return files


def check_port(host: str, port: int) -> None:
    """Fail before the engine opens if the server could not listen on host:port."""
    try:
        with socket.socket(_family(host)) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use (another server?): stop it or "
                "choose another --port"
            ) from exc
        raise StartupError(f"cannot listen on {host}:{port}: {_reason(exc)}") from exc


def exit_cleanly(command: str, run: Callable[[], int]) -> int:
    """Run a command; a start-up mistake prints one line and exits 2, Ctrl-C exits 130."""
    try:
        return run()
    except (StartupError, LogInUseError) as exc:
        print(f"streamdb {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"streamdb {command}: interrupted", file=sys.stderr)
        return 130


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
