"""A CLI session: runs what the user typed, statement by statement, against a Client.

The CLI keeps what ksqlDB's CLI keeps: properties (SET/UNSET, sent with every request),
variables (DEFINE/UNDEFINE, substituted before sending), the output format (OUTPUT), a spool
file (SPOOL), and RUN SCRIPT. Everything else goes to the client: SELECT and PRINT as queries
streaming rows, other statements as /ksql requests. Output goes to stdout (and the spool file),
errors to stderr."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import termios
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from grammar.variables import SessionVariables, substitute
from repl import render
from repl.client import CLI_VERSION, Client, ConnectionLost, QueryStream, StatementFailed
from repl.lexer import split_statements
from sqlengine.properties import is_known_property, unknown_property_message

_QUOTED = r"'((?:[^']|'')*)'"
_SET = re.compile(rf"SET\s+{_QUOTED}\s*=\s*{_QUOTED}\s*;?", re.I | re.S)
_UNSET = re.compile(rf"UNSET\s+{_QUOTED}\s*;?", re.I | re.S)
_DEFINE = re.compile(rf"DEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*{_QUOTED}\s*;?", re.I | re.S)
_UNDEFINE = re.compile(r"UNDEFINE\s+([A-Za-z_][A-Za-z0-9_]*)\s*;?", re.I)
_RUN_SCRIPT = re.compile(rf"RUN\s+SCRIPT\s+{_QUOTED}\s*;?", re.I | re.S)
_SHOW_VARIABLES = re.compile(r"(?:SHOW|LIST)\s+VARIABLES\s*;?", re.I)
_QUERY_WORDS = ("SELECT", "PRINT")

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"

HELP = """
Statements end with a semicolon (;) and may span lines. Several may share a line.

  SHOW STREAMS | TABLES | QUERIES | TOPICS | FUNCTIONS | PROPERTIES | VARIABLES;
  DESCRIBE <stream or table> [EXTENDED];    EXPLAIN <query id>;
  CREATE STREAM|TABLE ... ;   CREATE STREAM|TABLE ... AS SELECT ... ;   INSERT INTO ... ;
  SELECT ... ;                a pull query: the rows there are now
  SELECT ... EMIT CHANGES;    a push query: rows as they arrive, until LIMIT or Ctrl-C
  PRINT '<topic>' [FROM BEGINNING] [LIMIT n];

CLI commands:
  SET '<property>'='<value>';    UNSET '<property>';   e.g. SET 'auto.offset.reset'='earliest';
  DEFINE <name> = '<value>';     UNDEFINE <name>;      then use ${name} in statements
  RUN SCRIPT '<file.sql>';       run the statements of a file
  OUTPUT [JSON | TABULAR]        show or change how results are printed
  SPOOL <file> | SPOOL OFF       also write everything shown to a file
  clear    version    help    exit

Keys: Tab completes, Ctrl-R searches history, Ctrl-C cancels input or stops a query,
Ctrl-D exits.
""".strip("\n")


class Exit(Exception):
    """The user asked to leave."""


class Console:
    """Where the session writes: results to stdout, errors to stderr, both to the spool."""

    def __init__(self, out: IO[str], err: IO[str], color: bool) -> None:
        self.out = out
        self.err = err
        self.color = color
        self.spool: IO[str] | None = None

    def write(self, lines: list[str]) -> None:
        self._emit(self.out, lines)

    def record(self, statement: str) -> None:
        """A statement as typed, into the spool only (the terminal shows it already)."""
        if self.spool is not None:
            self.spool.write(f"ksql> {statement}\n")
            self.spool.flush()

    def error(self, lines: list[str], statement: list[str] | None = None) -> None:
        """Error lines in red (the first bold), then the statement lines (with their caret)."""
        painted = [
            f"{RED}{BOLD if i == 0 else ''}{line}{RESET}" if self.color else line
            for i, line in enumerate(lines)
        ]
        shown = statement or []
        self._emit(self.err, painted + shown, plain=lines + shown)

    def _emit(self, stream: IO[str], lines: list[str], plain: list[str] | None = None) -> None:
        if not lines:
            return
        stream.write("\n".join(lines) + "\n")
        stream.flush()
        if self.spool is not None:
            self.spool.write("\n".join(plain if plain is not None else lines) + "\n")
            self.spool.flush()


class Session:
    def __init__(self, client: Client, console: Console, interactive: bool) -> None:
        self.client = client
        self.console = console
        self.interactive = interactive
        self.properties: dict[str, str] = {}
        self.variables = SessionVariables()
        self.output = "TABULAR"
        self.connected = True
        self.catalog_version = 0  # bumped by every statement that may change the catalog
        self._commands: list[tuple[re.Pattern[str], Callable[[re.Match[str]], bool]]] = [
            (_SET, self._set),
            (_UNSET, self._unset),
            (_DEFINE, self._define),
            (_UNDEFINE, self._undefine),
            (_SHOW_VARIABLES, self._show_variables),
            (_RUN_SCRIPT, self._run_script),
        ]

    # ------------------------------------------------------------------ running text

    def run(self, text: str) -> bool:
        """Run every statement in `text`; False at the first that fails (the rest are skipped).
        An unfinished last statement (no `;`) runs too: a file's last may lack it."""
        statements, rest = split_statements(text)
        if rest.strip():
            statements.append(rest.strip())
        return all(self.run_statement(s) for s in statements)

    def run_statement(self, statement: str) -> bool:
        self.console.record(statement)
        words = statement.rstrip(";").split()
        command = words[0].lower() if words else ""
        if command in ("exit", "quit"):
            raise Exit
        cli = {
            "help": self._help,
            "clear": self._clear,
            "version": self._version,
            "output": self._output,
            "spool": self._spool,
        }.get(command)
        if cli is not None:
            return cli(words[1:])
        for pattern, handler in self._commands:
            m = pattern.fullmatch(statement)
            if m is not None:
                return handler(m)
        return self._send(self.substitute(statement))

    def substitute(self, statement: str) -> str:
        return substitute(statement, self.variables)

    # ------------------------------------------------------------------ statements and queries

    def _send(self, statement: str) -> bool:
        if not self.connected and not self.reconnect():
            return False
        try:
            if statement.split(None, 1)[0].upper() in _QUERY_WORDS:
                return self._query(statement)
            entities = self.client.execute(statement, dict(self.properties))
        except StatementFailed as exc:
            self._show_error(exc.message, exc.statement or statement)
            return False
        except ConnectionLost as exc:
            self.connected = False
            self.console.error(
                [
                    f"Lost connection to the server at {self.client.location}: {exc}",
                    "The statement did not run; the CLI reconnects when the server is back.",
                ]
            )
            return False
        self.catalog_version += 1
        for entity in entities:
            self._show_entity(entity)
        return True

    def reconnect(self) -> bool:
        """Whether the server answers again; says so either way."""
        try:
            info = self.client.info()
        except (ConnectionLost, StatementFailed):
            self.console.error([f"The server at {self.client.location} is still unreachable."])
            return False
        self.connected = True
        self.console.write([f"Reconnected to the server at {info.location} (v{info.version})."])
        return True

    def _show_entity(self, entity: dict[str, Any]) -> None:
        if self.output == "JSON":
            self.console.write(json.dumps(entity, indent=2).splitlines())
        else:
            self.console.write(render.entity_lines(entity))

    def _show_error(self, message: str, statement: str) -> None:
        lines, shown = render.error_lines(message, statement)
        self.console.error(lines, shown)

    def _query(self, statement: str) -> bool:
        stream: QueryStream | None = None
        try:
            with self._quiet_interrupts():
                stream = self.client.query(statement, dict(self.properties))
                self._stream_rows(stream)
        except KeyboardInterrupt:
            if stream is not None:
                stream.close()
            self.console.write(["Query terminated"])
        return True

    @contextlib.contextmanager
    def _quiet_interrupts(self) -> Iterator[None]:
        """While a query streams, Ctrl-C stops it without the terminal echoing `^C` into the
        table's bottom border (the terminal's ECHOCTL is off meanwhile)."""
        if not self.interactive or not sys.stdin.isatty():
            yield
            return
        fd = sys.stdin.fileno()
        before = termios.tcgetattr(fd)
        quiet = list(before)
        quiet[3] &= ~termios.ECHOCTL  # the local modes
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        try:
            yield
        finally:
            termios.tcsetattr(fd, termios.TCSANOW, before)

    def _stream_rows(self, stream: QueryStream) -> None:
        if stream.lines:
            for row in stream.rows:
                self.console.write([str(row[0])])
            return
        if self.output == "JSON":
            header = {"header": {"queryId": stream.query_id, "columnNames": stream.columns}}
            self.console.write([json.dumps(header)])
            for row in stream.rows:
                self.console.write([json.dumps({"row": {"columns": row}})])
            if stream.final_message:
                self.console.write([json.dumps({"finalMessage": stream.final_message})])
            return
        table = render.RowTable(stream.columns, shutil.get_terminal_size().columns)
        self.console.write(table.header())
        try:
            for row in stream.rows:
                self.console.write(table.row(row))
        finally:
            self.console.write([table.border])
        if stream.final_message == "Limit Reached":
            self.console.write(["Limit Reached"])
        self.console.write(["Query terminated"])

    # ------------------------------------------------------------------ CLI commands

    def _set(self, m: re.Match[str]) -> bool:
        name, value = (g.replace("''", "'") for g in m.groups())
        if not is_known_property(name):  # ksqlDB's CLI checks the name before keeping it
            self._show_error(unknown_property_message(name), m.group(0))
            return False
        self.properties[name] = value
        self.console.write(
            [
                f"Successfully changed local property '{name}' to '{value}'. "
                "Use the UNSET command to revert your change."
            ]
        )
        return True

    def _unset(self, m: re.Match[str]) -> bool:
        name = m.group(1).replace("''", "'")
        if name not in self.properties:
            self.console.error([f"Property '{name}' was not set."])
            return False
        value = self.properties.pop(name)
        self.console.write([f"Successfully unset local property '{name}' (value was '{value}')."])
        return True

    def _define(self, m: re.Match[str]) -> bool:
        self.variables[m.group(1)] = substitute(m.group(2).replace("''", "'"), self.variables)
        return True

    def _undefine(self, m: re.Match[str]) -> bool:
        if self.variables.pop(m.group(1), None) is None:
            self.console.write(
                [f"Cannot undefine variable '{m.group(1)}' which was never defined."]
            )
        return True

    def _show_variables(self, m: re.Match[str]) -> bool:
        rows = [[name, value] for name, value in self.variables.items()]
        self.console.write(render.boxed(["Variable Name", "Value"], rows))
        return True

    def _run_script(self, m: re.Match[str]) -> bool:
        path = Path(m.group(1).replace("''", "'")).expanduser()
        try:
            text = path.read_text()
        except OSError as exc:
            self.console.error([f"Cannot read script {path}: {exc.strerror}"])
            return False
        return self.run(text)

    def _help(self, args: list[str]) -> bool:
        self.console.write(HELP.splitlines())
        return True

    def _clear(self, args: list[str]) -> bool:
        if self.interactive:
            sys.stdout.write("\x1b[2J\x1b[H")
            sys.stdout.flush()
        return True

    def _version(self, args: list[str]) -> bool:
        self.console.write([f"Version: {CLI_VERSION}"])
        return True

    def _output(self, args: list[str]) -> bool:
        if not args:
            self.console.write([f"Output format: {self.output}"])
            return True
        wanted = args[0].upper()
        if wanted not in ("JSON", "TABULAR"):
            self.console.error([f"Unknown output format '{args[0]}': use JSON or TABULAR."])
            return False
        self.output = wanted
        self.console.write([f"Output format set to {wanted}"])
        return True

    def _spool(self, args: list[str]) -> bool:
        if not args:
            self.console.error(["SPOOL needs a file name, or OFF."])
            return False
        if self.console.spool is not None:
            self.console.spool.close()
            self.console.spool = None
        target = " ".join(args).strip("'\"")
        if target.upper() == "OFF":
            self.console.write(["Spooling is off."])
            return True
        try:
            self.console.spool = Path(target).expanduser().open("a")
        except OSError as exc:
            self.console.error([f"Cannot spool to {target}: {exc.strerror}"])
            return False
        self.console.write([f"Session will be spooled to {target}"])
        return True
