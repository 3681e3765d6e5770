"""`streamdb cli`: the interactive prompt, or a script run from -f, -e or stdin.

streamdb cli                          # the server at $STREAMDB_URL, else http://localhost:8088
streamdb cli http://host:8088
streamdb cli --local --data-dir DIR   # an engine in this process, no server needed
streamdb cli --local -f script.sql    # or -e "SQL;", or SQL piped on stdin
"""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from prompt_toolkit import PromptSession, search
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.filters import is_searching
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

from repl.client import CLI_VERSION, Client, ConnectionLost, RestClient, StatementFailed
from repl.completion import CatalogCompleter
from repl.lexer import STYLE, SqlLexer, is_complete
from repl.session import Console, Exit, Session

DEFAULT_URL = "http://localhost:8088"
URL_VARIABLE = "STREAMDB_URL"  # the server when the command line names none
HISTORY_FILE = "~/.streamdb_history"
_BANNER_WIDTH = 43
BANNER = [
    "=" * _BANNER_WIDTH,
    *(
        f"={text.center(_BANNER_WIDTH - 2)}="
        for text in ("", "s t r e a m d b", "", "Streaming SQL, the ksqlDB way", "")
    ),
    "=" * _BANNER_WIDTH,
]


def run_cli(
    url: str | None,
    local: bool,
    data_dir: str,
    file: str | None = None,
    execute: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> int:
    client: Client
    if local:
        from repl.local import LocalClient  # the engine loads only when it runs here

        client = LocalClient(data_dir)
    else:
        client = RestClient(server_url(url), auth=credentials(user, password))
    try:
        if file is not None or execute is not None or not sys.stdin.isatty():
            return run_script(client, _script(file, execute))
        return interactive(client)
    finally:
        client.close()


def server_url(argument: str | None) -> str:
    """The server to talk to: the command line's, else $STREAMDB_URL's, else the default."""
    return argument or os.environ.get(URL_VARIABLE) or DEFAULT_URL


def credentials(user: str | None, password: str | None) -> tuple[str, str] | None:
    """--user and --password; with only --user the password is asked for, unechoed."""
    if user is None:
        return None
    if password is None:
        password = getpass.getpass(f"Password for {user}: ")
    return user, password


def _script(file: str | None, execute: str | None) -> str:
    if execute is not None:
        return execute
    if file is not None:
        return Path(file).read_text()
    return sys.stdin.read()


def run_script(client: Client, text: str) -> int:
    """Non-interactive: results to stdout, errors to stderr, exit 1 at the first error."""
    session = Session(client, Console(sys.stdout, sys.stderr, color=False), interactive=False)
    try:
        return 0 if session.run(text) else 1
    except Exit:
        return 0


def interactive(client: Client) -> int:
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    session = Session(client, Console(sys.stdout, sys.stderr, color), interactive=True)
    banner(session)
    prompt: PromptSession[str] = PromptSession(
        "ksql> ",
        multiline=True,
        prompt_continuation=lambda width, line, wrapped: ">".ljust(width),
        lexer=SqlLexer(),
        style=STYLE,
        history=FileHistory(str(Path(HISTORY_FILE).expanduser())),
        auto_suggest=AutoSuggestFromHistory(),
        completer=CatalogCompleter(session),
        complete_while_typing=False,
        key_bindings=_enter_runs_complete_statements(),
        include_default_pygments_style=False,
    )
    while True:
        try:
            text = prompt.prompt()
        except KeyboardInterrupt:
            continue  # Ctrl-C drops what was typed, as in a shell
        except EOFError:
            break
        if not session.connected and not text.strip():
            session.reconnect()
        try:
            session.run(text)
        except Exit:
            break
    print("Exiting streamdb.")
    return 0


def banner(session: Session) -> None:
    console, client = session.console, session.client
    console.write(["", *(" " * 18 + line for line in BANNER), ""])
    try:
        info = client.info()
    except (ConnectionLost, StatementFailed) as exc:
        session.connected = False
        console.error(
            [
                f"The server at {client.location} is not answering: {exc}",
                "Statements will run once it is reachable.",
            ]
        )
        status = [f"CLI v{CLI_VERSION}, Server located at {client.location}", ""]
    else:
        status = [
            f"CLI v{CLI_VERSION}, Server v{info.version} located at {info.location}",
            f"Server Status: {info.status}",
            "",
        ]
    console.write(
        [
            *status,
            "Having trouble? Type 'help' (case-insensitive) for a rundown of how things work!",
            "",
        ]
    )


def _enter_runs_complete_statements() -> KeyBindings:
    """Enter runs the input once it ends a statement (`;`, or a CLI command like `exit`);
    before that it starts a new line. With the completion menu open it only closes it.
    In a Ctrl-R history search it takes the match, and runs it when it is complete."""
    bindings = KeyBindings()

    @bindings.add("enter", filter=is_searching)
    def _(event: KeyPressEvent) -> None:
        search.accept_search()
        buffer = event.app.current_buffer
        if is_complete(buffer.text):
            buffer.validate_and_handle()

    @bindings.add("enter", filter=~is_searching)
    def _(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.complete_state is not None:
            buffer.complete_state = None
        elif is_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings
