"""The JSON batch decoder and encoder against the per-record JSON serde, batch by batch.

A decoded batch must hold exactly the columns the per-record deserializer gives value by
value, or the decoder must decline it (None); each odd value below is put in a batch of clean
ones and the test says which of the two must happen, so a decoder that returned columns for a
batch it cannot read exactly fails here even where its columns would look plausible."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import orjson
import pyarrow as pa
import pytest

from sqlengine import types as T
from sqlengine.columnar.json_batch import JsonBatchDecoder, JsonBatchEncoder
from sqlengine.javatext import java_double_str
from sqlengine.serde.base import SerdeError
from sqlengine.serde.json_format import make_json_deserializer, make_json_serializer

COLUMNS = [
    ("COLOUR", T.STRING),
    ("WEIGHT_G", T.INTEGER),
    ("TEMP", T.DOUBLE),
    ("BIG", T.BIGINT),
    ("OK", T.BOOLEAN),
]


def _clean(rnd: random.Random) -> bytes:
    return orjson.dumps(
        {
            "colour": rnd.choice(["RED", "BLUE", "grün", 'q"uote\\', "a\u2028b"]),
            "weight_g": rnd.randint(-(2**31), 2**31 - 1),
            "temp": rnd.choice([rnd.uniform(-50, 50), float(rnd.randint(0, 9)), 1e300]),
            "big": rnd.randint(-(2**63), 2**63 - 1),
            "ok": rnd.random() < 0.5,
        }
    )


def _per_record(values: list[bytes], columns: list[tuple[str, T.SqlType]]) -> list[Any] | None:
    """The columns the per-record deserializer reads (as text, so -0.0 differs from 0.0),
    or None when it fails on some value."""
    deserialize = make_json_deserializer(columns, unwrap=False, is_key=False, topic="t")
    try:
        rows = [deserialize(v) for v in values]
    except SerdeError:
        return None
    return [repr(list(column)) for column in zip(*rows, strict=True)]


def _decoded(values: list[bytes], columns: list[tuple[str, T.SqlType]]) -> list[Any] | None:
    decoded = JsonBatchDecoder(columns).decode(pa.array(values, pa.binary()))
    return None if decoded is None else [repr(c.to_pylist()) for c in decoded]


VECTORIZED = [
    b'{"colour": null, "temp": null}',
    b"{}",
    b'{"extra": {"weight_g": 5, "x": [1, 2]}, "weight_g": 2}',  # other fields are read too
    b'{"extra": 1}',
    b'{"\\u0063olour": "escaped name", "weight_g": 3}',  # the name is "colour"
    b'{"colour": "quote \\" back \\\\ tab \\t nul \\u0000 \\ud83d\\ude00"}',
    b'{"temp": 7, "big": -0}',  # an integer for a DOUBLE; -0 for a BIGINT
    b'{"temp": 1e-400, "weight_g": -2147483648}',
    b'{"colour": "a", "colour": "last one wins"}',
    b'{"temp": -0}',  # the integer 0 for a DOUBLE
    b'{"colour": "x",\n "weight_g": 7}',  # a newline between tokens is whitespace
]

DECLINED = [
    b'{"COLOUR": "exact name first", "colour": "x"}',
    b'{"Colour": "another spelling"}',
    b'{"\\u0043OLOUR": "another spelling, escaped"}',
    b'{"weight_g": 3000000000}',
    b'{"weight_g": 1.5}',
    b'{"weight_g": "12"}',
    b'{"temp": "1.5"}',
    b'{"colour": 3}',
    b'{"colour": {"x": 1}}',
    b'{"ok": 1}',
    b'{"big": 99999999999999999999}',
    b'{"temp": -0.0}',
    b'{"temp": NaN}',
    b'{"temp": Infinity}',
    b'{"temp": -Infinity}',
    b'{"extra": NaN}',
    b'{"extra": [1, Infinity]}',
    b'{"temp": 1e400}',
    b'{"weight_g": 1}{"weight_g": 2}',
    b'{"weight_g": 1,}',
    b'{"colour": "\xff"}',
    b'{"colour": "\\ud800"}',
    b' {"weight_g": 1}',
    b'{"colour": "unterminated}',
]


@pytest.mark.parametrize(
    ("odd", "vectorized"), [(v, True) for v in VECTORIZED] + [(v, False) for v in DECLINED]
)
def test_a_batch_decodes_as_each_value_would_or_declines(odd: bytes, vectorized: bool) -> None:
    rnd = random.Random(odd)
    for place in (0, 30):  # first (the decoder learns field names from the first values)
        values = [_clean(rnd) for _ in range(60)]
        values.insert(place, odd)
        decoded = _decoded(values, COLUMNS)
        assert (decoded is not None) == vectorized, place
        if decoded is not None:
            assert decoded == _per_record(values, COLUMNS)


def test_field_names_spelled_as_the_columns_in_every_value() -> None:
    rnd = random.Random(1)
    values = [_clean(rnd).upper().replace(b"TRUE", b"true").replace(b"FALSE", b"false")]
    values += [orjson.dumps({"COLOUR": "x", "WEIGHT_G": i, "OK": None}) for i in range(9)]
    decoded = _decoded(values, COLUMNS)
    assert decoded is not None
    assert decoded == _per_record(values, COLUMNS)


def test_field_names_learnt_from_the_first_values_having_them() -> None:
    """Values leaving fields out: each column's spelling is learnt from the first of the
    first 64 values that has its field; a field none of them has is read by the column's
    name, and the batch declined when a later value spells it otherwise."""
    values = [b"{}"] * 10 + [b'{"weight_g": 1}'] + [b'{"colour": "x", "weight_g": 2}'] * 10
    decoded = _decoded(values, COLUMNS)
    assert decoded is not None
    assert decoded == _per_record(values, COLUMNS)
    late = [b"{}"] * 64 + [b'{"weight_g": 1}']
    assert _decoded(late, COLUMNS) is None
    exact = [b"{}"] * 64 + [b'{"WEIGHT_G": 1}']
    assert _decoded(exact, COLUMNS) == _per_record(exact, COLUMNS)
    assert "1]" in _per_record(exact, COLUMNS)[1]


@pytest.mark.parametrize(
    ("odd", "vectorized"),
    [
        (None, True),
        (b"7", True),
        (b"null", True),
        # Another type: the inferring read refuses a field of mixed types, so per record.
        (b'"text"', False),
        (b"[1]", False),
        (b"NaN", False),
        (b"-Infinity", False),
        (b"1e999", False),
    ],
)
def test_fields_outside_the_columns_in_every_value(odd: bytes | None, vectorized: bool) -> None:
    """As a stream keyed by a field of its values has that field in every value: the
    decoder reads such fields with the type of their first values."""
    rnd = random.Random(2)
    values = []
    for i in range(50):
        x = odd if i == 20 and odd is not None else b"%r" % rnd.random()
        values.append(_clean(rnd)[:-1] + b',"key":"k%d","n":%d,"x":%s,"b":true}' % (i, i, x))
    decoded = _decoded(values, COLUMNS)
    assert (decoded is not None) == vectorized
    if decoded is not None:
        assert decoded == _per_record(values, COLUMNS)


def test_two_columns_reading_one_field() -> None:
    """`a` and `A` both read the JSON field "a" (exact name, then the upper-cased one)."""
    values = [b'{"a": 1}', b'{"a": 2, "b": 3}', b"{}"]
    same_type = [("a", T.INTEGER), ("A", T.INTEGER)]
    assert _decoded(values, same_type) == _per_record(values, same_type) == ["[1, 2, None]"] * 2
    # A STRING column reads the number as its text: each column coerces the field its way.
    other_type = [("a", T.INTEGER), ("A", T.STRING)]
    assert _decoded(values, other_type) is None
    assert _per_record(values, other_type) == ["[1, 2, None]", "['1', '2', None]"]


ENCODED = [("S", T.STRING), ("I", T.INTEGER), ("D", T.DOUBLE), ("B", T.BIGINT), ("OK", T.BOOLEAN)]


@pytest.mark.parametrize("nulls", [False, True])
def test_encoder_writes_each_row_as_the_serializer(nulls: bool) -> None:
    rnd = random.Random(nulls)
    rows = []
    for _ in range(300):
        row = [
            "".join(chr(rnd.randint(32, 0x2FF)) for _ in range(4)) + '"\\',
            rnd.randint(-(2**31), 2**31 - 1),
            rnd.choice([rnd.uniform(-1, 1) * 10 ** rnd.randint(-12, 20), 0.0, -0.0, 3.0]),
            rnd.randint(-(2**63), 2**63 - 1),
            rnd.random() < 0.5,
        ]
        rows.append([None if nulls and rnd.random() < 0.2 else v for v in row])
    arrays = [
        pa.array(list(column), t)
        for column, t in zip(
            zip(*rows, strict=True),
            [pa.string(), pa.int32(), pa.float64(), pa.int64(), pa.bool_()],
            strict=True,
        )
    ]
    encoded = JsonBatchEncoder(ENCODED).encode(arrays)
    assert encoded is not None
    serialize = make_json_serializer(ENCODED, unwrap=False)
    assert encoded.to_pylist() == [serialize(row).decode() for row in rows]  # type: ignore[union-attr]


def test_encoder_writes_doubles_as_java_prints_them() -> None:
    """Many doubles of every magnitude, most where the batch text is not Java's own code's
    (1e-3 <= |x| < 1e7): random digits, random bits, rounded decimals and integral values."""
    rnd = random.Random(5)
    values = [rnd.uniform(-1e7, 1e7) for _ in range(5000)]
    values += [10 ** rnd.uniform(-3, 7) * rnd.choice([-1, 1]) for _ in range(5000)]
    values += [round(rnd.uniform(0, 1e4), rnd.randint(0, 5)) for _ in range(5000)]
    values += [struct.unpack("<d", rnd.randbytes(8))[0] for _ in range(5000)]
    values = [v for v in values if math.isfinite(v)] + [0.0, -0.0, 1e-3, 1e7, 9999999.999999998]
    encoded = JsonBatchEncoder([("D", T.DOUBLE)]).encode([pa.array(values, pa.float64())])
    assert encoded is not None
    assert encoded.to_pylist() == ['{"D":' + java_double_str(v) + "}" for v in values]


def test_encoder_declines_control_characters_and_non_finite_doubles() -> None:
    encoder = JsonBatchEncoder([("S", T.STRING), ("D", T.DOUBLE)])
    assert encoder.encode([pa.array(["a", "b\x01"]), pa.array([1.0, 2.0])]) is None
    assert encoder.encode([pa.array(["a", "b"]), pa.array([1.0, float("nan")])]) is None
    assert encoder.encode([pa.array(["a", "b"]), pa.array([float("-inf"), 2.0])]) is None
    assert encoder.encode([pa.array(["a", "b"]), pa.array([1.0, 2.0])]) is not None


def test_encoder_writes_columns_of_nulls_only() -> None:
    encoder = JsonBatchEncoder([("S", T.STRING), ("D", T.DOUBLE), ("I", T.INTEGER)])
    arrays = [pa.nulls(2, pa.string()), pa.nulls(2, pa.float64()), pa.nulls(2, pa.int32())]
    encoded = encoder.encode(arrays)
    assert encoded is not None
    assert encoded.to_pylist() == ['{"S":null,"D":null,"I":null}'] * 2
