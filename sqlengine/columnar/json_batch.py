"""JSON record values <-> Arrow columns for a whole batch, byte for byte as the per-record
JSON serde (`sqlengine.serde.json_format`, `serde.coerce`) reads and writes them.

Decoding parses the batch's values in one pass of a typed reader, with the column types
fixed, after checks that make its result the per-record one: every value is one object
(on one line, for Arrow's reader), field names are spelled one way in the whole batch (ksqlDB matches names
case-insensitively: exact name first, then the upper-cased JSON keys), and no value needs
one of ksqlDB's coercions (a string for a number, a fraction for an INT...: the readers
reject those and the batch goes the per-record way). The reader runs in its fastest mode,
every field's type fixed and any other field an error, with the fields the first values
have: msgspec's, into one small object per value, a third faster than Arrow's; Arrow's when
msgspec refuses the batch, and again with other fields inferred when the batch has fields
the first values lack.

Encoding builds each object's text from per-column text with Arrow's string kernels.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from sqlengine.columnar import arrow_type
from sqlengine.javatext import java_double_str
from sqlengine.types import Base, SqlType

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_OFFSET = struct.Struct("<i")
# A DOUBLE's bits when it is -0.0, as a signed 64-bit integer.
_NEGATIVE_ZERO_BITS = -(2**63)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NEWLINE = ord("\n")
_PLAIN_TYPES = {str: pa.string(), float: pa.float64(), bool: pa.bool_()}
# How many values at most a batch's field names are learnt from.
_SPELLING_SAMPLE = 64
# What msgspec reads a field of each Arrow type as: strictly that JSON type (an INT field's
# 1.0 or "1", a STRING field's 1 are errors), a DOUBLE's number finite.
_MSGSPEC_TYPES: dict[pa.DataType, Any] = {
    pa.int64(): Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)],
    pa.float64(): float,
    pa.string(): str,
    pa.bool_(): bool,
}


def supported(columns: Sequence[tuple[str, SqlType]]) -> bool:
    """Can a whole row of these columns go through the vectorized JSON path?"""
    return all(arrow_type(t) is not None and name.isascii() for name, t in columns)


def _data_buffer(values: pa.Array) -> pa.Buffer:
    """The concatenated bytes of a binary array's values (its slice only)."""
    _, offsets, data = values.buffers()
    if data is None:
        return pa.py_buffer(b"")
    start = _OFFSET.unpack_from(offsets, 4 * values.offset)[0]
    end = _OFFSET.unpack_from(offsets, 4 * (values.offset + len(values)))[0]
    return data.slice(start, end - start)


class JsonBatchDecoder:
    """Values of a JSON-format topic -> one Arrow array per column (in column order)."""

    def __init__(self, columns: Sequence[tuple[str, SqlType]]) -> None:
        assert supported(columns)
        self.columns = list(columns)
        self._names = {name for name, _ in self.columns}

    def decode(self, values: pa.Array) -> list[pa.Array] | None:
        """The columns of a batch of non-null values, or None to decode it per record."""
        n = len(values)
        if n == 0 or values.null_count:
            return None
        if not (
            pc.all(pc.starts_with(values, b"{")).as_py()
            and pc.all(pc.ends_with(values, b"}")).as_py()
        ):
            return None
        sample = self._sample(values)
        if sample is None:
            return None
        spellings, others = sample
        read_types: dict[str, pa.DataType] = {}  # a spelling two columns share is read once
        for spelling, (_, t) in zip(spellings, self.columns, strict=True):
            read_type = pa.int64() if t.base is Base.INTEGER else arrow_type(t)
            if read_types.setdefault(spelling, read_type) != read_type:
                return None  # columns of two types read one field: each coerces it its way
        fields = list(read_types)
        table = self._read(values, read_types, others)
        if table is None or table.num_rows != n:  # a value held more than one object
            return None
        out = []
        for spelling, (_, t) in zip(spellings, self.columns, strict=True):
            column = _exact(table.column(fields.index(spelling)).combine_chunks(), t)
            if column is None:
                return None
            out.append(column)
        return out

    def _read(
        self,
        values: pa.Array,
        read_types: dict[str, pa.DataType],
        others: dict[str, pa.DataType | None],
    ) -> pa.Table | None:
        """The batch's values as a table of `read_types`' fields first (others may follow),
        or None when no reader reads them as the per-record path does."""
        plain = {f: t for f, t in others.items() if t is not None}
        if len(plain) == len(others):
            # First with the fields of the first values and their types fixed, the common
            # case and the readers' fastest: any other field, or another type, fails the
            # read. msgspec refuses NaN and Infinity, as orjson does.
            table = _read_objects(values, read_types, plain)
            if table is not None:
                return table
        data = _data_buffer(values)
        chars = np.frombuffer(data, np.uint8)
        if (chars == _NEWLINE).any() or not _is_utf8(data, chars):
            return None
        if len(plain) == len(others):
            # Arrow reads NaN and Infinity: here they can only be values of DOUBLE fields,
            # which are checked.
            table = _read_json(data, pa.schema([*read_types.items(), *plain.items()]), "error")
            if table is not None:
                floats = [f for f, t in plain.items() if t == pa.float64()]
                return table if all(_finite(table.column(f)) for f in floats) else None
        # Other fields are inferred, so that another spelling of a column's name shows up as
        # a field of its own; NaN or Infinity may be in any of them.
        raw = data.to_pybytes()
        if b"NaN" in raw or b"Infinity" in raw:
            return None
        table = _read_json(data, pa.schema(list(read_types.items())), "infer")
        if table is None or self._spelled_otherwise(table.schema.names[len(read_types) :]):
            return None
        return table

    def _spelled_otherwise(self, fields: list[str]) -> bool:
        """Is one of these fields outside the schema a column's field spelled another way?"""
        return any(f in self._names or f.upper() in self._names for f in fields)

    def _sample(self, values: pa.Array) -> tuple[list[str], dict[str, pa.DataType | None]] | None:
        """How each column's field is spelled in this batch's JSON, and the other fields
        with the type they are read as (None: not a plain one), learnt from its first value,
        and for a column's field that one lacks from the first of the next few that has it
        (a field none has is read by the column's name). The reader then sees any other
        spelling as a field of its own, and the batch is declined."""
        spellings: list[str | None] = [None] * len(self.columns)
        keys: dict[str, Any] = {}  # every field of the sampled values: a value of it
        for value in values[:_SPELLING_SAMPLE].to_pylist():
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                return None
            if type(obj) is not dict:
                return None
            for key, field_value in obj.items():
                if keys.get(key) is None:
                    keys[key] = field_value
            for i, (name, _) in enumerate(self.columns):
                if spellings[i] is None:
                    spellings[i] = _spelling(name, obj)
            if None not in spellings:
                break
        named = [
            name if s is None else s for s, (name, _) in zip(spellings, self.columns, strict=True)
        ]
        others = {k: _read_type(v) for k, v in keys.items() if k not in named}
        if not all(s.isascii() for s in named) or self._spelled_otherwise(list(others)):
            return None
        return named, others


def _read_type(value: Any) -> pa.DataType | None:
    """The Arrow type a field outside the columns is read as, given a value of it: None for
    nested values (and nulls), which Arrow's reader infers instead."""
    if type(value) is int:
        return pa.int64() if _INT64_MIN <= value <= _INT64_MAX else None
    return _PLAIN_TYPES.get(type(value))


def _finite(column: pa.Array | pa.ChunkedArray) -> bool:
    return bool(pc.all(pc.is_finite(column), min_count=0).as_py())


def _spelling(name: str, obj: dict[str, Any]) -> str | None:
    """The key of `obj` ksqlDB reads column `name` from (the exact name, else the last key
    whose upper case is the name), or None when it has none."""
    if name in obj:
        return name
    same = [k for k in obj if k.upper() == name]
    return same[-1] if same else None


def _read_json(data: pa.Buffer, schema: pa.Schema, other_fields: str) -> pa.Table | None:
    """The values in `data` as a table of `schema` (`other_fields`: Arrow's
    unexpected_field_behavior); None when Arrow's reader refuses them."""
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior=other_fields)
    read = pajson.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20))
    try:
        return pajson.read_json(pa.BufferReader(data), read_options=read, parse_options=options)
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None


def _read_objects(
    values: pa.Array, fields: dict[str, pa.DataType], others: dict[str, pa.DataType]
) -> pa.Table | None:
    """The values as a table of `fields` (read by msgspec, with `others` read and left
    out); None when msgspec refuses them. msgspec reads the values joined by newlines as a
    sequence of JSON texts: as each value starts with "{" and ends with "}", and no JSON text
    holds "}" then whitespace then "{" outside a string (nor a raw newline in one), no text
    spans two values, so the values were one object each when there are as many objects as
    values (checked by the caller)."""
    lines = pc.binary_join_element_wise(values, pa.scalar(b"\n"), pa.scalar(b""))
    decoder, columns_of = _objects_reader((*fields.items(), *others.items()), len(fields))
    try:
        objects = decoder.decode_lines(_data_buffer(lines))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    columns = [pa.array(c, t) for c, t in zip(columns_of(objects), fields.values(), strict=True)]
    return pa.table(columns, names=list(fields))


@lru_cache(maxsize=64)
def _objects_reader(
    fields: tuple[tuple[str, pa.DataType], ...], kept: int
) -> tuple[msgspec.json.Decoder[Any], Callable[[list[Any]], tuple[list[Any], ...]]]:
    """A reader of objects with these fields and types (any missing one NULL, any other
    field an error) into structs without garbage collector tracking, and a function giving
    the first `kept` fields' values of a list of them as lists (attributes f0, f1...)."""
    struct = msgspec.defstruct(
        "JsonValue",
        [(f"f{i}", _MSGSPEC_TYPES[t] | None, None) for i, (_, t) in enumerate(fields)],
        rename={f"f{i}": name for i, (name, _) in enumerate(fields)},
        forbid_unknown_fields=True,
        gc=False,
    )
    lists = "".join(f"[o.f{i} for o in objects], " for i in range(kept))
    env: dict[str, Any] = {}
    exec(f"def columns_of(objects):\n    return ({lists})\n", env)  # noqa: S102 - names only
    return msgspec.json.Decoder(struct), env["columns_of"]


def _is_utf8(data: pa.Buffer, chars: np.ndarray) -> bool:
    if not chars.size or chars.max() < 0x80:  # ASCII
        return True
    try:
        data.to_pybytes().decode()
    except UnicodeDecodeError:
        return False
    return True


def _exact(column: pa.Array, t: SqlType) -> pa.Array | None:
    """A decoded column as the per-record path has it, or None when a value differs there:
    an INT out of 32-bit range (ksqlDB wraps it), a DOUBLE -0 (read as the integer 0), NaN or
    an infinity (orjson refuses the literals NaN and Infinity; a finite literal too large for
    a double fails Arrow's reader as well)."""
    if t.base is Base.INTEGER:
        low, high = pc.min_max(column).values()
        if low.is_valid and (low.as_py() < _INT32_MIN or high.as_py() > _INT32_MAX):
            return None
        return column.cast(pa.int32())
    if t.base is Base.DOUBLE:
        if not _finite(column):
            return None
        if pc.any(pc.equal(column.view(pa.int64()), _NEGATIVE_ZERO_BITS)).as_py():
            return None
    return column


class JsonBatchEncoder:
    """Arrow columns -> JSON object values, as `json_format`'s serializer writes each row."""

    def __init__(self, columns: Sequence[tuple[str, SqlType]]) -> None:
        assert supported(columns)
        self.columns = list(columns)
        self._prefixes = [
            ("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":"
            for i, (name, _) in enumerate(columns)
        ]

    def encode(self, arrays: Sequence[pa.Array]) -> pa.Array | None:
        """One JSON text per row, or None to encode the batch per record."""
        if not len(arrays[0]):
            return pa.array([], pa.string())
        # Literal text between the columns' texts; a string column without nulls has its
        # quotes there, the others their text or null.
        parts: list[pa.Array | str] = []
        literal = ""
        for prefix, (_, t), array in zip(self._prefixes, self.columns, arrays, strict=True):
            text = _json_text(array, t)
            if text is None:
                return None
            literal += prefix
            if t.base is Base.STRING and not array.null_count:
                parts += [literal + '"', text]
                literal = '"'
                continue
            if t.base is Base.STRING:
                text = pc.binary_join_element_wise('"', text, '"', "")
            parts += [literal, pc.fill_null(text, "null") if array.null_count else text]
            literal = ""
        parts.append(literal + "}")
        return pc.binary_join_element_wise(*parts, "")


def _bytes_of(array: pa.Array) -> np.ndarray:
    """The bytes of a string array's values, without copying them."""
    return np.frombuffer(_data_buffer(array), np.uint8)


def _json_text(array: pa.Array, t: SqlType) -> pa.Array | None:
    """A column's values as JSON text (a STRING's escaped but not quoted), or None to
    encode the batch per record."""
    if t.base is Base.STRING:
        chars = _bytes_of(array)
        if not chars.size:
            return array
        if chars.min() < 0x20:  # control characters: escaped by the writer in several ways
            return None
        if (chars == ord("\\")).any():
            array = pc.replace_substring(array, "\\", "\\\\")
        if (chars == ord('"')).any():
            array = pc.replace_substring(array, '"', '\\"')
        return array
    if t.base is Base.DOUBLE:
        return _double_text(array)
    return array.cast(pa.string())


def _double_text(array: pa.Array) -> pa.Array | None:
    """Doubles as the per-record writer writes them, as Java prints them (shortest round-trip
    digits: 20.0, 1.0E7, 1.0E-4). orjson's shortest text agrees for 1e-3 <= |x| < 1e7, where
    neither has an exponent (checked against `java_double_str`); the others are written by
    `java_double_str`. Non-finite values are declined (the per-record writer quotes them
    as Jackson does)."""
    if not pc.all(pc.is_finite(array), min_count=0).as_py():
        return None
    text = _shortest_text(array)
    magnitude = pc.abs(array)
    plain = pc.or_(
        pc.and_(pc.greater_equal(magnitude, 1e-3), pc.less(magnitude, 1e7)),
        pc.equal(array, 0.0),
    )
    others = pc.fill_null(pc.invert(plain), False)
    if not pc.any(others).as_py():
        return text
    fixed = text.to_pylist()
    for i, (other, value) in enumerate(zip(others.to_pylist(), array.to_pylist(), strict=True)):
        if other:
            fixed[i] = java_double_str(value)
    return pa.array(fixed, pa.string())


def _shortest_text(array: pa.Array) -> pa.Array:
    """Each double's shortest round-trip text as orjson writes it (a null's: null), in one
    call for the whole array rather than one per value."""
    listed = orjson.dumps(array.to_numpy(zero_copy_only=False), option=orjson.OPT_SERIALIZE_NUMPY)
    return pc.split_pattern(pa.array([listed[1:-1].decode()]), ",").values
