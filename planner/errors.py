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


class PlanError(Exception):
    def __init__(self, message: str, kind: str = "type") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    def in_clause(self, clause: str) -> PlanError:
        """The same error as ksqlDB reports it inside `clause` (SELECT, WHERE, HAVING...)."""
        if self.kind == "column":
            return PlanError(f"{clause} {self.message}", "plain")
        if self.kind == "codegen":
            label = "Predicate" if clause in ("WHERE", "HAVING") else clause.title()
            return PlanError(f"Invalid {label}: {self.message}", "plain")
        if self.kind == "type" and clause in ("WHERE", "HAVING"):
            return PlanError(f"Error in {clause} expression: {self.message}", "plain")
        return self


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
