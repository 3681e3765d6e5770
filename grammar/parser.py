"""Parser of streamdb's SQL dialect: `parse(sql)` and `parse_expression(text)`.

The script is split at top-level `;` (outside strings, quoted identifiers and comments), and
each statement is parsed on its own by one LALR parser built at import from ksql.lark. Node
positions are absolute (1-based line and column in the text given to `parse`).

Errors are ParseError, with messages shaped like ksqlDB's:

    line 1:32: Syntax Error
    Expecting {'STRING', INTEGER_VALUE}
    Statement: CREATE STREAM INPUT (K STRING (KEY)) WITH (kafka_topic='input');
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr
from lark.parsers.lalr_analysis import Reduce, Shift
from lark.parsers.lalr_parser_state import ParserState

from grammar import ast
from grammar.transform import AstBuilder, BuildError
from grammar.variables import SessionVariables, substitute
from sqlengine.keywords import RESERVED_WORDS


class ParseError(Exception):
    """A statement that does not parse. `line`/`column` are 1-based and absolute in the parsed
    text; `token` is the offending text ('<EOF>' at the end); `expected` lists what the parser
    would have accepted there, in ksqlDB's spelling ('SELECT', ',', INTEGER_VALUE, ...)."""

    def __init__(
        self,
        message: str,
        *,
        line: int,
        column: int,
        token: str,
        expected: list[str] | None = None,
        statement_text: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.token = token
        self.expected = expected or []
        self.statement_text = statement_text


def unknown_statement_error(statement: ast.Statement) -> ParseError:
    """The error for a statement this server does not run (e.g. RUN SCRIPT outside the CLI),
    in the shape ksqlDB reports a statement it cannot parse."""
    word = statement.text.split(None, 1)[0] if statement.text else ""
    return ParseError(
        f"line {statement.line}:{statement.column}: Syntax Error\n"
        f"Unknown statement '{word}'\nStatement: {statement.text};",
        line=statement.line,
        column=statement.column,
        token=word,
        statement_text=statement.text,
    )


# ---------------------------------------------------------------------------- the LALR parser


class _ReservedWords:
    """Lark post-lexer: a reserved word lexed as IDENTIFIER (because the parser state does
    not accept that keyword) becomes its keyword token, so the parser rejects it."""

    # Lex every word whole in every state, so `SECONDSX` is one bad word, not SECONDS + X.
    always_accept = ("IDENTIFIER",)

    def __init__(self) -> None:
        self.keyword_types: dict[str, str] = {}

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        keyword_types = self.keyword_types
        for token in stream:
            if token.type == "IDENTIFIER":
                word = token.value.upper()
                if word in RESERVED_WORDS:
                    token = Token.new_borrow_pos(
                        keyword_types.get(word, "RESERVED_WORD"), token.value, token
                    )
            yield token


_POSTLEX = _ReservedWords()
_LARK = Lark(
    (Path(__file__).with_name("ksql.lark")).read_text(),
    parser="lalr",
    lexer="contextual",
    start=["start", "expression_start"],
    propagate_positions=True,
    maybe_placeholders=True,
    postlex=_POSTLEX,
)
_POSTLEX.keyword_types = {
    t.pattern.value.upper(): t.name
    for t in _LARK.terminals
    if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()
}

# How ksqlDB (ANTLR) spells expected tokens, in its vocabulary order: implicit literal
# tokens first, then keywords, operators, and the token classes.
_IMPLICIT = ["';'", "','", "'('", "')'", "'.'", "'['", "']'", "'STRING'"]
_OPERATORS = {
    "COMPARISON": ["NEQ", "'<'", "'<='", "'>'", "'>='"],
    "MUL_OP": ["'/'", "'%'"],
    "CONCAT": ["'||'"],
}
_CLASSES = [
    "STRING",
    "INTEGER_VALUE",
    "DECIMAL_VALUE",
    "FLOATING_POINT_VALUE",
    "IDENTIFIER",
    "QUOTED_IDENTIFIER",
    "BACKQUOTED_IDENTIFIER",
]
_TERMINALS = {t.name: t for t in _LARK.terminals}
_ALL_TERMINALS = [*_TERMINALS, "$END"]


def _display_names(terminal: str) -> list[str]:
    if terminal == "$END":
        return ["<EOF>"]
    if terminal in _OPERATORS:
        return _OPERATORS[terminal]
    definition = _TERMINALS.get(terminal)
    if definition is not None and isinstance(definition.pattern, PatternStr):
        return ["'" + definition.pattern.value.upper() + "'"]
    return [terminal]


def _sort_key(name: str) -> tuple[int, int, str]:
    if name in _IMPLICIT:
        return (0, _IMPLICIT.index(name), name)
    if name in _CLASSES:
        return (3, _CLASSES.index(name), name)
    if name[1:-1].isalpha():
        return (1, 0, name)
    return (2, 0, name)


def _expected(error: UnexpectedInput, fallback: set[str]) -> list[str]:
    """What the parser accepts where it failed, reported the way ANTLR (ksqlDB) does: first
    leave every construct that is complete (skipping its optional tail), then list the tokens
    that can follow there."""
    state = getattr(error, "state", None)
    if not isinstance(state, ParserState):
        terminals = fallback
    else:
        table = state.parse_conf.parse_table.states
        stack = list(state.state_stack)
        while True:
            reductions = {arg for kind, arg in table[stack[-1]].values() if kind is Reduce}
            if len(reductions) != 1:
                break
            rule = reductions.pop()
            after = stack[: len(stack) - len(rule.expansion)]
            goto = table[after[-1]].get(rule.origin.name) if after else None
            if goto is None:
                break
            stack = [*after, goto[1]]
        ends = set(state.parse_conf.parse_table.end_states.values())
        terminals = {t for t in _ALL_TERMINALS if _accepts(table, ends, stack, t)}
        terminals = terminals or fallback
    names = {n for t in terminals if t != "RESERVED_WORD" for n in _display_names(t)}
    return sorted(names, key=_sort_key)


def _accepts(table: dict, ends: set[int], stack: list[int], terminal: str) -> bool:
    """Whether the LALR automaton in `stack` shifts `terminal` after its reductions."""
    stack = list(stack)
    while True:
        if terminal == "$END" and stack[-1] in ends:
            return True
        action = table[stack[-1]].get(terminal)
        if action is None:
            return False
        kind, arg = action
        if kind is Shift:
            return True
        stack = stack[: len(stack) - len(arg.expansion)]
        goto = table[stack[-1]].get(arg.origin.name) if stack else None
        if goto is None:
            return False
        stack.append(goto[1])


# ---------------------------------------------------------------------------- splitting

_SCRIPT_TOKEN = re.compile(
    r"""'(?:[^']|'')*'?|"(?:[^"]|"")*"?|`(?:[^`]|``)*`?|--[^\n]*|/\*.*?(?:\*/|\Z)|;|[^'"`;/-]+|.""",
    re.S,
)


@dataclass(frozen=True)
class _Chunk:
    text: str
    line: int
    column: int


def _split(sql: str) -> list[_Chunk]:
    """The statements of a script: their text (no `;`, no surrounding blanks or comments)
    and the position where each starts."""
    chunks: list[_Chunk] = []
    start = end = -1
    for m in _SCRIPT_TOKEN.finditer(sql):
        piece = m.group()
        if piece == ";":
            if start >= 0:
                chunks.append(_chunk(sql, start, end))
            start = end = -1
        elif piece.startswith(("--", "/*")) or not piece.strip():
            continue
        else:
            if start < 0:
                start = m.start() + len(piece) - len(piece.lstrip())
            end = m.start() + len(piece.rstrip())
    if start >= 0:
        chunks.append(_chunk(sql, start, end))
    return chunks


def _chunk(sql: str, start: int, end: int) -> _Chunk:
    line = sql.count("\n", 0, start) + 1
    column = start - (sql.rfind("\n", 0, start) + 1) + 1
    return _Chunk(sql[start:end], line, column)


# ---------------------------------------------------------------------------- entry points


def parse(sql: str, variables: Mapping[str, str] | None = None) -> list[ast.Statement]:
    """Parse a script of `;`-separated statements (the last `;` optional). With `variables`
    (a session's), each statement's `${name}` references are substituted before it is parsed,
    with what the script's DEFINEs and UNDEFINEs before it left (`variables` is not changed)."""
    statements = []
    session = None if variables is None else SessionVariables(variables)
    for chunk in _split(sql):
        if session is not None:
            chunk = _Chunk(substitute(chunk.text, session), chunk.line, chunk.column)
        statement = _parse_chunk(chunk, "start")
        if isinstance(statement, ast.DefineVariable) and session is not None:
            session[statement.name] = statement.value
        elif isinstance(statement, ast.UndefineVariable) and session is not None:
            session.pop(statement.name, None)
        statements.append(statement)
    return statements


def parse_expression(text: str) -> ast.Expr:
    """Parse one expression, e.g. a column default or a test's expected value."""
    return _parse_chunk(
        _Chunk(text.strip(), 1, 1 + len(text) - len(text.lstrip())), "expression_start"
    )


def _parse_chunk(chunk: _Chunk, start: str):
    builder = AstBuilder(chunk.text, chunk.line, chunk.column)
    try:
        tree = _LARK.parse(chunk.text, start=start)
        return builder.transform(tree)
    except UnexpectedInput as e:
        raise _syntax_error(e, chunk, builder) from None
    except VisitError as e:
        if isinstance(e.orig_exc, BuildError):
            b = e.orig_exc
            raise ParseError(
                f"{b.message}\nStatement: {chunk.text};",
                line=b.line,
                column=b.column,
                token=b.token,
                statement_text=chunk.text,
            ) from None
        raise


def _syntax_error(e: UnexpectedInput, chunk: _Chunk, builder: AstBuilder) -> ParseError:
    if isinstance(e, UnexpectedToken):
        token = e.token
        at_end = token.type == "$END"
        text = "<EOF>" if at_end else token.value
        if at_end:
            rel_line, rel_column = _end_position(chunk.text)
        else:
            rel_line, rel_column = token.line, token.column
        expected = _expected(e, set(e.expected))
    else:
        assert isinstance(e, UnexpectedCharacters)
        text = chunk.text[e.pos_in_stream] if e.pos_in_stream < len(chunk.text) else "<EOF>"
        rel_line, rel_column = e.line, e.column
        expected = _expected(e, set(e.allowed or ()))
    line, column = builder.absolute(rel_line, rel_column)
    if (rel_line, rel_column) == (1, 1):
        lines = [f"line {line}:{column}: Syntax Error", f"Unknown statement '{text}'"]
    else:
        # ksqlDB has printed both forms over its versions; callers match either.
        lines = [
            f"Syntax error at or near '{text}' at line {line}:{column}",
            f"line {line}:{column}: Syntax Error",
            "Expecting {" + ", ".join(expected) + "}",
        ]
    lines.append(f"Statement: {chunk.text};")
    return ParseError(
        "\n".join(lines),
        line=line,
        column=column,
        token=text,
        expected=expected,
        statement_text=chunk.text,
    )


def _end_position(text: str) -> tuple[int, int]:
    line = text.count("\n") + 1
    return line, len(text) - (text.rfind("\n") + 1) + 1
