"""Errors raised while resolving and type-checking statements, in ksqlDB's words.

The engine wraps a PlanError with the statement text. `kind` tells the caller which of
ksqlDB's prefixes belongs in front of the message once it knows the clause:
- "type": found while typing an expression ("Error in WHERE expression: ...")
- "codegen": found while compiling it ("Invalid Predicate: ...", "Invalid Select: ...")
- "column": an unknown column ("WHERE column 'X' cannot be resolved.")
- "plain": no prefix
"""

from __future__ import annotations

from sqlengine import types as T

# ksqlDB's words for errors found while preparing a statement, before planning it: by its
# parser building the AST (an unknown source qualifier), and by the engine resolving the
# AST's column names (an ambiguous column).
PARSER_PREPARING = "Failed to prepare statement: "
ENGINE_PREPARING = "Exception while preparing statement: "


class PlanError(Exception):
    """`location` (line, column) is where in the statement text the error was found; ksqlDB
    puts it in front of the message as "Line: l, Col: c: ", after `preparing` (one of the
    prefixes above) when the error is found while preparing the statement."""

    def __init__(
        self,
        message: str,
        kind: str = "type",
        location: tuple[int, int] | None = None,
        preparing: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.location = location
        self.preparing = preparing
        # The statement as ksqlDB shows it after rewriting it, when the message names that
        # rather than the text as written.
        self.statement: str | None = None

    def __str__(self) -> str:
        if self.location is None:
            return self.preparing + self.message
        line, column = self.location
        return f"{self.preparing}Line: {line}, Col: {column}: {self.message}"

    def located(self, line: int, column: int) -> PlanError:
        """The same error found at (line, column); unchanged when the position is unknown."""
        if line <= 0:
            return self
        return PlanError(self.message, self.kind, (line, column), self.preparing)

    def in_clause(self, clause: str) -> PlanError:
        """The same error as ksqlDB reports it inside `clause` (SELECT, WHERE, HAVING...)."""
        if self.kind == "column":
            message = f"{clause} {self.message}"
        elif self.kind == "codegen":
            label = "Predicate" if clause in ("WHERE", "HAVING") else clause.title()
            message = f"Invalid {label}: {self.message}"
        elif self.kind == "type" and clause in ("WHERE", "HAVING"):
            message = f"Error in {clause} expression: {self.message}"
        else:
            return self
        return PlanError(message, "plain", self.location, self.preparing)


def type_name(t: T.SqlType | None) -> str:
    """A type as ksqlDB prints it in error messages (INTEGER, fields always backquoted)."""
    if t is None:
        return "null"
    if isinstance(t, T.Array):
        return f"ARRAY<{type_name(t.element)}>"
    if isinstance(t, T.Map):
        return f"MAP<{type_name(t.key)}, {type_name(t.value)}>"
    if isinstance(t, T.Struct):
        inner = ", ".join(
            "`" + f.name.replace("`", "``") + "` " + type_name(f.type) for f in t.fields
        )
        return f"STRUCT<{inner}>"
    if isinstance(t, T.Decimal):
        return f"DECIMAL({t.precision}, {t.scale})"
    return t.base.value
