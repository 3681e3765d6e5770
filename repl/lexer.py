"""The dialect as the REPL sees it: tokens for highlighting, statement splitting (a statement
ends at a top-level `;`, never one inside a string, quoted identifier or comment) and the
keyword list for completion, read from the grammar itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

_TOKEN = re.compile(
    r"""(?P<string>'(?:[^']|'')*'?)"""
    r"""|(?P<quoted>"(?:[^"]|"")*"?|`(?:[^`]|``)*`?)"""
    r"""|(?P<comment>--[^\n]*|/\*.*?(?:\*/|\Z))"""
    r"""|(?P<variable>\$\{[A-Za-z_][A-Za-z0-9_]*\}?)"""
    r"""|(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_@]*)"""
    r"""|(?P<end>;)"""
    r"""|(?P<space>\s+)"""
    r"""|(?P<other>.)""",
    re.S,
)

KEYWORDS: frozenset[str] = frozenset(
    re.findall(r'"([A-Z_]+)"i', resources.files("grammar").joinpath("ksql.lark").read_text())
)
# Commands of the CLI itself: they end at the end of their line, `;` optional.
CLI_COMMANDS = ("help", "exit", "quit", "clear", "history", "version", "output", "spool")

STYLE = Style.from_dict(
    {
        "keyword": "#5f87ff bold",
        "string": "#5faf5f",
        "quoted": "#d7af5f",
        "number": "#d787d7",
        "comment": "#808080 italic",
        "variable": "#d75f00",
        "bottom-toolbar": "noreverse #808080",
    }
)


@dataclass(frozen=True)
class Token:
    kind: str  # string | quoted | comment | variable | number | word | end | space | other
    text: str
    start: int


def tokens(text: str) -> list[Token]:
    return [Token(m.lastgroup or "other", m.group(), m.start()) for m in _TOKEN.finditer(text)]


def is_cli_command(text: str) -> bool:
    words = text.strip().rstrip(";").split()
    return bool(words) and words[0].lower() in CLI_COMMANDS


def split_statements(text: str) -> tuple[list[str], str]:
    """The complete statements in `text` (each ending in its `;`) and what is left after the
    last `;`: an unfinished statement, or blanks. A CLI command is complete at its line's end."""
    done: list[str] = []
    start = 0
    first: int | None = None  # where the statement's first token after comments starts
    for token in tokens(text):
        if first is None and token.kind not in ("space", "comment"):
            first = token.start
        if token.kind == "end":
            statement = text[start if first is None else first : token.start + 1].strip()
            if statement != ";":
                done.append(statement)
            start = token.start + 1
            first = None
        elif (
            token.kind == "space"
            and "\n" in token.text
            and is_cli_command(text[start : token.start])
        ):
            done.append(text[start : token.start].strip())
            start = token.start + len(token.text)
    rest = text[start:]
    if is_cli_command(rest) and not rest.rstrip().endswith(("'", "`", '"')):
        return [*done, rest.strip()], ""
    return done, rest if _meaningful(rest) else ""


def _meaningful(text: str) -> bool:
    return any(t.kind not in ("space", "comment") for t in tokens(text))


def is_complete(text: str) -> bool:
    """Whether pressing Enter on `text` should run it rather than start a new line."""
    done, rest = split_statements(text)
    return bool(done) and not rest or not _meaningful(text)


class SqlLexer(Lexer):
    """Highlights keywords, strings, identifiers, numbers, comments and ${variables}."""

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        styled: list[StyleAndTextTuples] = [[]]
        for token in tokens(document.text):
            kind = token.kind
            if kind == "word":
                kind = "keyword" if token.text.upper() in KEYWORDS else ""
            elif kind in ("end", "space", "other"):
                kind = ""
            style = f"class:{kind}" if kind else ""
            lines = token.text.split("\n")
            styled[-1].append((style, lines[0]))
            for line in lines[1:]:
                styled.append([(style, line)])

        def line(number: int) -> StyleAndTextTuples:
            return styled[number] if number < len(styled) else []

        return line
