"""Builds grammar.ast nodes from Lark parse trees of grammar/ksql.lark.

One AstBuilder per statement: it shifts positions by the statement's offset in the script,
so every node's line/column is absolute. Errors found while building (bad literals,
KEY vs PRIMARY KEY) are raised as BuildError and turned into ParseError by the caller.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from lark import Token, v_args
from lark.tree import Meta

from grammar import ast
from grammar.expressions import (
    UNIT_NAMES,
    BuildError,
    ExpressionBuilder,
    identifier_text,
    unquote,
)


@v_args(meta=True)
class AstBuilder(ExpressionBuilder):
    """Lark transformer producing grammar.ast statements (expressions: ExpressionBuilder)."""

    # ------------------------------------------------------------------ names

    def identifier(self, meta: Meta, c: list[Token]) -> str:
        return identifier_text(c[0])

    def source_name(self, meta: Meta, c: list[str]) -> str:
        return c[0]

    def resource_name(self, meta: Meta, c: list[Any]) -> str:
        value = c[0]
        if isinstance(value, Token):
            return unquote(value.value, "'")
        return value

    def column_list(self, meta: Meta, c: list[str]) -> tuple[str, ...]:
        return tuple(c)

    def _keyword(self, meta: Meta, c: list[Token]) -> str:
        return " ".join(t.value.upper() for t in c if t is not None)

    show_what = describe_what = stream_or_table = pause_or_resume = connector_kind = _keyword
    emit = time_unit = time_unit_arg = ordering = null_ordering = _keyword

    def or_replace(self, meta: Meta, c: list[Any]) -> bool:
        return True

    source = if_not_exists = if_exists = not_exists = or_replace
    extended = negated = distinct = from_beginning = delete_topic = or_replace

    # ------------------------------------------------------------------ statements

    def select_statement(self, meta: Meta, c: list[Any]) -> ast.SelectStatement:
        return ast.SelectStatement(query=c[0], **self._pos(meta))

    def show(self, meta: Meta, c: list[Any]) -> ast.Show:
        return ast.Show(what=c[0], extended=c[1] is not None, **self._pos(meta))

    def show_all_topics(self, meta: Meta, c: list[Any]) -> ast.Show:
        return ast.Show(
            what="TOPICS", extended=c[0] is not None, all_topics=True, **self._pos(meta)
        )

    def describe(self, meta: Meta, c: list[Any]) -> ast.Describe:
        return ast.Describe(name=c[0], extended=c[1] is not None, **self._pos(meta))

    def describe_all(self, meta: Meta, c: list[Any]) -> ast.Describe:
        return ast.Describe(name=None, what=c[0], extended=c[1] is not None, **self._pos(meta))

    def describe_function(self, meta: Meta, c: list[Any]) -> ast.DescribeFunction:
        return ast.DescribeFunction(name=c[0], **self._pos(meta))

    def print_topic(self, meta: Meta, c: list[Any]) -> ast.Print:
        topic, beginning, interval, limit = c
        return ast.Print(
            topic=topic,
            from_beginning=beginning is not None,
            interval=interval,
            limit=limit,
            **self._pos(meta),
        )

    def interval_clause(self, meta: Meta, c: list[Token]) -> int:
        return int(c[0])

    def limit_clause(self, meta: Meta, c: list[Token | None]) -> int:
        minus, value = c
        return -int(value) if minus is not None else int(value)

    def terminate(self, meta: Meta, c: list[Any]) -> ast.Terminate:
        return ast.Terminate(query_id=c[0], **self._pos(meta))

    def terminate_all(self, meta: Meta, c: list[Any]) -> ast.Terminate:
        return ast.Terminate(query_id=None, **self._pos(meta))

    def pause_resume(self, meta: Meta, c: list[Any]) -> ast.PauseResume:
        return ast.PauseResume(action=c[0], query_id=c[1], **self._pos(meta))

    def pause_resume_all(self, meta: Meta, c: list[Any]) -> ast.PauseResume:
        return ast.PauseResume(action=c[0], query_id=None, **self._pos(meta))

    def set_property(self, meta: Meta, c: list[Token]) -> ast.SetProperty:
        name, value = (unquote(t.value, "'") for t in (c[0], c[2]))
        return ast.SetProperty(name=name, value=value, **self._pos(meta))

    def unset_property(self, meta: Meta, c: list[Token]) -> ast.UnsetProperty:
        return ast.UnsetProperty(name=unquote(c[0].value, "'"), **self._pos(meta))

    def define_variable(self, meta: Meta, c: list[Token]) -> ast.DefineVariable:
        value = unquote(c[2].value, "'")
        return ast.DefineVariable(name=c[0].value, value=value, **self._pos(meta))

    def undefine_variable(self, meta: Meta, c: list[Token]) -> ast.UndefineVariable:
        return ast.UndefineVariable(name=c[0].value, **self._pos(meta))

    def run_script(self, meta: Meta, c: list[Token]) -> ast.RunScript:
        return ast.RunScript(path=unquote(c[0].value, "'"), **self._pos(meta))

    def create_source(self, meta: Meta, c: list[Any]) -> ast.CreateSource:
        or_replace, is_source, kind, if_not_exists, name, elements, props = c
        for element in elements or ():
            self._check_key_constraint(kind, element)
        _check_window_properties(props or {}, self._pos(meta))
        return ast.CreateSource(
            kind=kind,
            name=name,
            elements=tuple(elements or ()),
            properties=props or {},
            or_replace=bool(or_replace),
            if_not_exists=bool(if_not_exists),
            is_source=bool(is_source),
            **self._pos(meta),
        )

    @staticmethod
    def _check_key_constraint(kind: str, element: ast.TableElement) -> None:
        wrong = {"TABLE": "KEY", "STREAM": "PRIMARY KEY"}[kind]
        if element.constraint == wrong:
            right = "PRIMARY KEY" if wrong == "KEY" else "KEY"
            message = (
                f"Line: {element.line}, Col: {element.column}: Column `{element.name}` "
                f"is a '{wrong}' column: please use '{right}' for {kind.lower()}s."
            )
            raise BuildError(message, element.line, element.column, element.name)

    def create_as_select(self, meta: Meta, c: list[Any]) -> ast.CreateAsSelect:
        or_replace, kind, if_not_exists, name, props, query = c
        return ast.CreateAsSelect(
            kind=kind,
            name=name,
            query=query,
            properties=props or {},
            or_replace=bool(or_replace),
            if_not_exists=bool(if_not_exists),
            **self._pos(meta),
        )

    def insert_into(self, meta: Meta, c: list[Any]) -> ast.InsertInto:
        target, props, query = c
        return ast.InsertInto(target=target, query=query, properties=props or {}, **self._pos(meta))

    def insert_values(self, meta: Meta, c: list[Any]) -> ast.InsertValues:
        target, columns, *values = c
        exprs = tuple(v for v in values if v is not None)
        return ast.InsertValues(target=target, columns=columns, values=exprs, **self._pos(meta))

    def drop_source(self, meta: Meta, c: list[Any]) -> ast.DropSource:
        kind, if_exists, name, delete_topic = c
        return ast.DropSource(
            kind=kind,
            name=name,
            if_exists=bool(if_exists),
            delete_topic=delete_topic is not None,
            **self._pos(meta),
        )

    def drop_type(self, meta: Meta, c: list[Any]) -> ast.DropType:
        return ast.DropType(name=c[1], if_exists=bool(c[0]), **self._pos(meta))

    def create_connector(self, meta: Meta, c: list[Any]) -> ast.CreateConnector:
        kind, if_not_exists, name, props = c
        return ast.CreateConnector(
            kind=kind,
            name=name,
            # Connect's property names are lower-case words (`kafka.topic`, `connection.url`)
            properties={k.lower(): v for k, v in props.items()},
            if_not_exists=bool(if_not_exists),
            **self._pos(meta),
        )

    def drop_connector(self, meta: Meta, c: list[Any]) -> ast.DropConnector:
        return ast.DropConnector(name=c[1], if_exists=bool(c[0]), **self._pos(meta))

    def describe_connector(self, meta: Meta, c: list[Any]) -> ast.DescribeConnector:
        return ast.DescribeConnector(name=c[0], **self._pos(meta))

    def create_type(self, meta: Meta, c: list[Any]) -> ast.CreateType:
        if_not_exists, name, type_ref = c
        return ast.CreateType(
            name=name, type=type_ref, if_not_exists=bool(if_not_exists), **self._pos(meta)
        )

    def alter_source(self, meta: Meta, c: list[Any]) -> ast.AlterSource:
        kind, name, *added = c
        return ast.AlterSource(kind=kind, name=name, added=tuple(added), **self._pos(meta))

    def alter_option(self, meta: Meta, c: list[Any]) -> ast.TableElement:
        name, type_ref = c
        return ast.TableElement(name=name, type=type_ref, **self._pos(meta))

    def explain_statement(self, meta: Meta, c: list[Any]) -> ast.Explain:
        inner = replace(c[0], text=re.sub(r"^EXPLAIN\s+", "", self._text, flags=re.I))
        return ast.Explain(statement=inner, **self._pos(meta))

    def explain_query(self, meta: Meta, c: list[Any]) -> ast.Explain:
        return ast.Explain(query_id=c[0], **self._pos(meta))

    def assert_topic(self, meta: Meta, c: list[Any]) -> ast.AssertTopic:
        not_exists, topic, props, timeout = c
        return ast.AssertTopic(
            topic=topic,
            properties=props or {},
            exists=not not_exists,
            timeout=timeout,
            **self._pos(meta),
        )

    def assert_schema(self, meta: Meta, c: list[Any]) -> ast.AssertSchema:
        not_exists, subject, schema_id, timeout = c
        return ast.AssertSchema(
            subject=subject,
            schema_id=int(schema_id) if schema_id is not None else None,
            exists=not not_exists,
            timeout=timeout,
            **self._pos(meta),
        )

    def timeout(self, meta: Meta, c: list[Any]) -> ast.Duration:
        return c[0]

    # ------------------------------------------------------------------ columns and properties

    def table_elements(self, meta: Meta, c: list[ast.TableElement]) -> tuple[ast.TableElement, ...]:
        return tuple(c)

    def table_element(self, meta: Meta, c: list[Any]) -> ast.TableElement:
        name, type_ref, constraint = c
        kind, header_key = constraint if constraint is not None else (None, None)
        return ast.TableElement(
            name=name, type=type_ref, constraint=kind, header_key=header_key, **self._pos(meta)
        )

    def key_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("KEY", None)

    def primary_key_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("PRIMARY KEY", None)

    def headers_constraint(self, meta: Meta, c: list[Any]) -> tuple[str, None]:
        return ("HEADERS", None)

    def header_constraint(self, meta: Meta, c: list[Token]) -> tuple[str, str]:
        return ("HEADER", unquote(c[0].value, "'"))

    def with_properties(
        self, meta: Meta, c: list[tuple[str, ast.Literal]]
    ) -> dict[str, ast.Literal]:
        return dict(c)

    def property(self, meta: Meta, c: list[Any]) -> tuple[str, ast.Literal]:
        key, _eq, value = c
        name = unquote(key.value, "'") if isinstance(key, Token) else key
        return name.upper(), value

    # ------------------------------------------------------------------ queries

    def query(self, meta: Meta, c: list[Any]) -> ast.Query:
        distinct, *items, relation, window, where, group_by, partition_by, having = c[:-4]
        emit, order_by, limit, offset = c[-4:]
        return ast.Query(
            distinct=bool(distinct),
            order_by=order_by,
            offset=offset,
            select=tuple(items),
            from_=relation,
            window=window,
            where=where,
            group_by=group_by or (),
            partition_by=partition_by,
            having=having,
            emit=emit.split()[-1] if emit else None,
            limit=limit,
            **self._pos(meta),
        )

    def select_column(self, meta: Meta, c: list[Any]) -> ast.SelectColumn:
        return ast.SelectColumn(expr=c[0], alias=c[1], **self._pos(meta))

    def select_struct_all(self, meta: Meta, c: list[Any]) -> ast.SelectStructAll:
        return ast.SelectStructAll(expr=c[0], **self._pos(meta))

    def select_star_of(self, meta: Meta, c: list[Any]) -> ast.SelectStar:
        return ast.SelectStar(source=c[0], **self._pos(meta))

    def select_star(self, meta: Meta, c: list[Any]) -> ast.SelectStar:
        return ast.SelectStar(**self._pos(meta))

    def where(self, meta: Meta, c: list[Any]) -> ast.Expr:
        return c[0]

    having = where

    def group_by(self, meta: Meta, c: list[Any]) -> tuple[ast.Expr, ...]:
        if len(c) == 1 and isinstance(c[0], tuple):
            return c[0]
        return tuple(c)

    partition_by = group_by

    def window(self, meta: Meta, c: list[Any]) -> ast.Window:
        return c[1]

    def _window(self, kind: str, meta: Meta, size: ast.Duration, extras: tuple, advance=None):
        retention, grace = extras
        return ast.Window(
            kind=kind,
            size=size,
            advance=advance,
            retention=retention,
            grace=grace,
            **self._pos(meta),
        )

    def tumbling(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("TUMBLING", meta, c[0], c[1])

    def hopping(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("HOPPING", meta, c[0], c[2], advance=c[1])

    def session(self, meta: Meta, c: list[Any]) -> ast.Window:
        return self._window("SESSION", meta, c[0], c[1])

    def window_extras(self, meta: Meta, c: list[Any]) -> tuple:
        return tuple(c)

    def grace_period(self, meta: Meta, c: list[Any]) -> ast.Duration:
        return c[0]

    def duration(self, meta: Meta, c: list[Any]) -> ast.Duration:
        value, unit = c
        return ast.Duration(value=int(value), unit=UNIT_NAMES[unit], **self._pos(meta))

    def aliased_relation(self, meta: Meta, c: list[Any]) -> ast.SourceRef:
        return ast.SourceRef(name=c[0], alias=c[1], **self._pos(meta))

    def subquery_relation(self, meta: Meta, c: list[Any]) -> ast.SubqueryRef:
        return ast.SubqueryRef(query=c[0], alias=c[1], **self._pos(meta))

    def order_by(self, meta: Meta, c: list[ast.OrderItem]) -> ast.OrderBy:
        return ast.OrderBy(items=tuple(c), **self._pos(meta))

    def order_item(self, meta: Meta, c: list[Any]) -> ast.OrderItem:
        expr, ordering, nulls = c
        return ast.OrderItem(
            expr=expr,
            descending=ordering == "DESC",
            nulls_first=None if nulls is None else nulls.endswith("FIRST"),
            **self._pos(meta),
        )

    def offset_clause(self, meta: Meta, c: list[Token]) -> int:
        return int(c[0])

    def join_type(self, meta: Meta, c: list[Any]) -> str:
        words = [t.value.upper() for t in c if t is not None]
        return words[0] if words else "INNER"

    def join(self, meta: Meta, c: list[Any]) -> ast.Join:
        left, kind, right, within, criteria = c
        return ast.Join(
            kind=kind, left=left, right=right, criteria=criteria, within=within, **self._pos(meta)
        )

    def within(self, meta: Meta, c: list[Any]) -> ast.Within:
        *sizes, grace = c
        before, after = (sizes[0], sizes[0]) if len(sizes) == 1 else sizes
        return ast.Within(before=before, after=after, grace=grace, **self._pos(meta))


def _check_window_properties(props: dict[str, ast.Literal], pos: dict[str, int]) -> None:
    """WINDOW_TYPE / WINDOW_SIZE of a windowed source, checked as ksqlDB's AST builder does."""
    window_type = props.get("WINDOW_TYPE")
    window_size = props.get("WINDOW_SIZE")
    kind = str(window_type.value).upper() if window_type is not None else None
    if kind is not None and kind not in ("SESSION", "HOPPING", "TUMBLING"):
        _property_error(
            f"Invalid value {window_type.value} for property WINDOW_TYPE: "
            "String must be one of: SESSION, HOPPING, TUMBLING, null",
            pos,
        )
    if window_size is not None:
        _parse_duration(str(window_size.value), pos)
    if kind == "SESSION" and window_size is not None:
        _property_error("'WINDOW_SIZE' should not be set for SESSION windows.", pos)
    if kind in ("HOPPING", "TUMBLING") and window_size is None:
        _property_error(
            f"{kind} windows require 'WINDOW_SIZE' to be provided in the WITH clause. "
            "For example: 'WINDOW_SIZE'='10 SECONDS'",
            pos,
        )


def _parse_duration(text: str, pos: dict[str, int]) -> None:
    parts = text.split()
    prefix = f"Configuration WINDOW_SIZE is invalid: Invalid duration: '{text}'. "
    if len(parts) != 2 or not parts[0].isdigit():
        _property_error(prefix + "Expected format: '<number> <unit>'", pos)
    unit = parts[1].upper()
    if unit not in UNIT_NAMES and unit.rstrip("S") not in ("NANOSECOND", "MICROSECOND"):
        _property_error(prefix + f"Unknown time unit: '{unit}'", pos)


def _property_error(message: str, pos: dict[str, int]) -> None:
    raise BuildError(message, pos["line"], pos["column"])
