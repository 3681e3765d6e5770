"""ksqlDB's JSON functions, reproducing Jackson's parsing and printing.

Parsing follows ksqlDB's UdfJsonMapper: the first JSON value of the text is read and anything
after it is ignored, empty text is a "missing" node, and floating-point numbers are kept as
exact decimals (so '1.23450' prints back as written). Printing is Jackson's compact form:
no spaces, only '"', '\\' and control characters escaped. A parsed number prints with
BigDecimal.toString() when a node is turned into text (EXTRACTJSONFIELD, JSON_ITEMS,
JSON_RECORDS) and in plain notation when ksqlDB's mapper writes it (JSON_CONCAT).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlengine import types as T
from sqlengine.functions.bytes_funcs import base64_text
from sqlengine.functions.registry import ArgType, Overload, scalar
from sqlengine.javatext import java_double_str

# ---------------------------------------------------------------------------- parsing

MISSING: Any = object()  # Jackson's MissingNode: the text held no JSON value


def _exact_decimal(text: str) -> Decimal:
    d = Decimal(text)
    return d.copy_abs() if d.is_zero() else d  # BigDecimal has no negative zero


def _reject_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


_DECODER = json.JSONDecoder(parse_float=_exact_decimal, parse_constant=_reject_constant)
_JSON_SPACE = " \t\n\r"


def parse_json(text: str) -> Any:
    """The first JSON value in `text` (MISSING if there is none); ValueError when invalid."""
    start = len(text) - len(text.lstrip(_JSON_SPACE))
    if start == len(text):
        return MISSING
    try:
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as e:
        raise ValueError(f"Invalid JSON format:{text}") from e
    if end < len(text) and not isinstance(value, (str, list, dict)):
        # Jackson rejects a root number glued to more text ('1abc'), a literal glued to a
        # name character ('truex').
        follower = text[end]
        bad = follower.isalnum() or follower in "_$"
        if bad or (
            value is not None and not isinstance(value, bool) and follower not in _JSON_SPACE
        ):
            raise ValueError(f"Invalid JSON format:{text}")
    return value


# ---------------------------------------------------------------------------- printing

_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n"}
_SHORT_ESCAPES |= {"\f": "\\f", "\r": "\\r"}


def _escape_char(m: re.Match[str]) -> str:
    c = m.group()
    return _SHORT_ESCAPES.get(c) or f"\\u{ord(c):04X}"


def json_quote(s: str) -> str:
    """A JSON string literal as Jackson writes it."""
    if _NEEDS_ESCAPE.search(s) is None:
        return f'"{s}"'
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def node_text(v: Any, plain: bool = False) -> str:
    """Compact JSON text of a parsed value; decimals as BigDecimal.toString() unless plain."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return json_quote(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        return format(v, "f") if plain else str(v)
    if isinstance(v, list):
        return "[" + ",".join(node_text(x, plain) for x in v) + "]"
    if isinstance(v, dict):
        items = (json_quote(k) + ":" + node_text(x, plain) for k, x in v.items())
        return "{" + ",".join(items) + "}"
    if v is MISSING:
        return ""
    raise TypeError(f"not a JSON value: {v!r}")


# ---------------------------------------------------------------------------- JSON paths


@lru_cache(maxsize=256)
def json_path_tokens(path: str) -> tuple[str, ...]:
    """Tokens of a JSONPath such as $.logs[0].cloud or $['a b'] (ksqlDB's JsonPathTokenizer)."""
    invalid = ValueError(f"Invalid JSON path: '{path}'")
    p = path.strip()
    if not p.startswith("$"):
        raise invalid
    tokens: list[str] = []
    i, n = 1, len(p)
    while True:
        while i < n and p[i].isspace():
            i += 1
        if i >= n:
            return tuple(tokens)
        if p[i] == ".":
            j = i + 1
            while j < n and p[j] not in ".[]\"'" and not p[j].isspace():
                j += 1
            if j == i + 1:
                raise invalid
            tokens.append(p[i + 1 : j])
            i = j
        elif p[i] == "[":
            j = i + 1
            while j < n and p[j].isspace():
                j += 1
            if j < n and p[j] in "\"'":
                close = p.find(p[j], j + 1)
                if close < 0:
                    raise invalid
                token, j = p[j + 1 : close], close + 1
            else:
                close = p.find("]", j)
                token, j = (p[j:close].strip(), close) if close >= 0 else ("", n)
                if not token:
                    raise invalid
            while j < n and p[j].isspace():
                j += 1
            if j >= n or p[j] != "]":
                raise invalid
            tokens.append(token)
            i = j + 1
        else:
            raise invalid


_JAVA_INT = re.compile(r"[+-]?[0-9]+")


def _extract_json_field(text: str, path: str) -> str | None:
    node = parse_json(text)
    for token in json_path_tokens(path):
        if isinstance(node, list):
            if not _JAVA_INT.fullmatch(token):
                return None
            index = int(token)
            node = node[index] if 0 <= index < len(node) else MISSING
        elif isinstance(node, dict):
            node = node.get(token, MISSING)
        else:
            node = MISSING
        if node is MISSING:
            return None
    return node if isinstance(node, str) else node_text(node)


scalar(
    "EXTRACTJSONFIELD",
    "Given a STRING that contains JSON data, extract the value at the specified JSONPath",
    Overload(["STRING", "STRING"], "STRING", _extract_json_field, description="json, path"),
    category="JSON",
)


# ---------------------------------------------------------------------------- inspecting JSON


def _is_json_string(text: str | None) -> bool:
    if text is None:
        return False
    try:
        return parse_json(text) is not MISSING
    except ValueError:
        return False


def _json_array_length(text: str) -> int | None:
    node = parse_json(text)
    return len(node) if isinstance(node, list) else None


def _json_keys(text: str) -> list[str] | None:
    node = parse_json(text)
    return list(node) if isinstance(node, dict) else None


def _json_records(text: str) -> dict[str, str] | None:
    node = parse_json(text)
    if not isinstance(node, dict):
        return None
    return {k: v if isinstance(v, str) else node_text(v) for k, v in node.items()}


def _json_items(text: str) -> list[str]:
    node = parse_json(text)
    if not isinstance(node, list):
        raise ValueError(f"Invalid JSON format:{text}")
    return [node_text(x) for x in node]


def _json_concat(*texts: str) -> str | None:
    if not texts:
        raise ValueError("JSON_CONCAT needs at least one argument")
    nodes = [parse_json(t) for t in texts]
    if any(n is MISSING for n in nodes):
        return None
    if all(isinstance(n, dict) for n in nodes):
        merged: dict[str, Any] = {}
        for n in nodes:
            merged.update(n)
        return node_text(merged, plain=True)
    if len(nodes) == 1:
        return node_text(nodes[0], plain=True)
    items: list[Any] = []
    for n in nodes:
        if isinstance(n, list):
            items.extend(n)
        else:
            items.append(n)
    return node_text(items, plain=True)


def _json_array_contains(text: str | None, value: Any) -> bool:
    if text is None:
        return False
    try:
        node = parse_json(text)
    except ValueError:
        return False
    if not isinstance(node, list):
        return False
    return any(_same_json_value(x, value) for x in node)


def _same_json_value(item: Any, value: Any) -> bool:
    """Jackson token compatibility: ints match INT/BIGINT, decimals DOUBLE, and so on."""
    if item is None or value is None:
        return item is None and value is None
    if isinstance(item, bool) or isinstance(value, bool):
        return item is value
    if isinstance(item, int):
        return type(value) is int and item == value
    if isinstance(item, Decimal):
        return isinstance(value, float) and float(item) == value
    if isinstance(item, str):
        return isinstance(value, str) and item == value
    return False


scalar(
    "IS_JSON_STRING",
    "Given a string, returns true if it can be parsed as a valid JSON value, false otherwise",
    Overload(["STRING"], "BOOLEAN", _is_json_string, False, description="NULL gives false"),
    category="JSON",
)
scalar(
    "JSON_ARRAY_LENGTH",
    "Parses a string as a JSON value and returns the length of the top-level array",
    Overload(["STRING"], "INT", _json_array_length, description="NULL if not an array"),
    category="JSON",
)
scalar(
    "JSON_KEYS",
    "Parses a string as a JSON object and returns an array of its top-level keys",
    Overload(["STRING"], "ARRAY<STRING>", _json_keys, description="NULL if not an object"),
    category="JSON",
)
scalar(
    "JSON_RECORDS",
    "Parses a string as a JSON object and returns a map of its top-level keys and values",
    Overload(["STRING"], "MAP<STRING, STRING>", _json_records, description="Values as JSON"),
    category="JSON",
)
scalar(
    "JSON_ITEMS",
    "Given a string with a JSON array, converts it to an array of JSON strings",
    Overload(["STRING"], "ARRAY<STRING>", _json_items, description="One string per element"),
    category="JSON",
)
scalar(
    "JSON_CONCAT",
    "Parses strings as JSON values and concatenates them like PostgreSQL's || operator",
    Overload(["STRING..."], "STRING", _json_concat, description="Objects merge, else arrays"),
    category="JSON",
)
scalar(
    "JSON_ARRAY_CONTAINS",
    "Parses a JSON array and determines whether the supplied value is contained within it",
    Overload(["STRING", "T"], "BOOLEAN", _json_array_contains, False, description="json, val"),
    category="JSON",
)


# ---------------------------------------------------------------------------- TO_JSON_STRING

_EPOCH = dt.datetime(1970, 1, 1)


def _date_text(days: int) -> str:
    return '"' + (_EPOCH + dt.timedelta(days=days)).date().isoformat() + '"'


def _time_text(ms: int) -> str:
    """java.time.LocalTime.toString(): seconds and millis only when not zero."""
    s, milli = divmod(ms, 1000)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    text = f"{h:02d}:{m:02d}"
    if sec or milli:
        text += f":{sec:02d}"
    if milli:
        text += f".{milli:03d}"
    return '"' + text + '"'


def _timestamp_text(ms: int) -> str:
    t = _EPOCH + dt.timedelta(milliseconds=ms)
    return '"' + t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond // 1000:03d}" + '"'


def _double_json(d: float) -> str:
    text = java_double_str(d)
    return f'"{text}"' if math.isnan(d) or math.isinf(d) else text


def _bool_json(b: bool) -> str:
    return "true" if b else "false"


def _decimal_json(d: Decimal) -> str:
    return format(d, "f")


def _bytes_json(b: bytes) -> str:
    return '"' + base64_text(b) + '"'


_PRIMITIVE_WRITERS: dict[T.Base, Callable[[Any], str]] = {
    T.Base.BOOLEAN: _bool_json,
    T.Base.INTEGER: str,
    T.Base.BIGINT: str,
    T.Base.DOUBLE: _double_json,
    T.Base.DECIMAL: _decimal_json,
    T.Base.STRING: json_quote,
    T.Base.BYTES: _bytes_json,
    T.Base.DATE: _date_text,
    T.Base.TIME: _time_text,
    T.Base.TIMESTAMP: _timestamp_text,
}


def json_writer(sql_type: T.SqlType | None) -> Callable[[Any], str]:
    """A function printing values of `sql_type` as ksqlDB's TO_JSON_STRING does.

    Map entries and struct fields are printed sorted by key (ksqlDB uses a TreeMap)."""
    if sql_type is None:
        return lambda v: "null"
    if isinstance(sql_type, T.Array):
        element = json_writer(sql_type.element)

        def write_array(v: list[Any]) -> str:
            return "[" + ",".join(map(element, v)) + "]"

        return _null_safe(write_array)
    if isinstance(sql_type, T.Map):
        value = json_writer(sql_type.value)

        def write_map(v: dict[Any, Any]) -> str:
            entries = sorted(((str(k), x) for k, x in v.items()), key=_first)
            return _object_text((k, value(x)) for k, x in entries)

        return _null_safe(write_map)
    if isinstance(sql_type, T.Struct):
        fields = sorted(((f.name, json_writer(f.type)) for f in sql_type.fields), key=_first)

        def write_struct(v: dict[str, Any]) -> str:
            return _object_text((name, w(v.get(name))) for name, w in fields)

        return _null_safe(write_struct)
    return _null_safe(_PRIMITIVE_WRITERS[sql_type.base])


def _first(pair: tuple[str, Any]) -> str:
    return pair[0]


def _object_text(entries: Any) -> str:
    return "{" + ",".join(json_quote(k) + ":" + text for k, text in entries) + "}"


def _null_safe(write: Callable[[Any], str]) -> Callable[[Any], str]:
    def guarded(v: Any) -> str:
        return "null" if v is None else write(v)

    return guarded


def _to_json_string_factory(arg_types: list[ArgType], _ret: T.SqlType) -> Callable[[Any], str]:
    t = arg_types[0]
    return json_writer(t if isinstance(t, T.SqlType) else None)


scalar(
    "TO_JSON_STRING",
    "Given any ksqlDB type returns the equivalent JSON string",
    Overload(
        ["T"],
        "STRING",
        _to_json_string_factory,
        null_propagating=False,
        factory=True,
        description="NULL gives 'null'",
    ),
    category="JSON",
)
