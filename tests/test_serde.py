"""Key and value formats: round trips, ksqlDB's coercions, its error messages, tombstones."""

from __future__ import annotations

import math
import struct
from decimal import Decimal

import orjson
import pytest

from sqlengine import types as T
from sqlengine.javatext import java_double_str
from sqlengine.serde import (
    FormatInfo,
    SerdeError,
    check_format,
    check_properties,
    json_to_value,
    make_deserializer,
    make_serializer,
    parse_delimiter,
    value_to_api_json,
    value_to_json,
)

JSON = FormatInfo("JSON", {})
DELIMITED = FormatInfo("DELIMITED", {})
KAFKA = FormatInfo("KAFKA", {})
NONE = FormatInfo("NONE", {})

STRUCT_AB = T.Struct((T.Field("A", T.INTEGER), T.Field("B", T.STRING)))
ALL_TYPES = [
    ("BOOL", T.BOOLEAN),
    ("I", T.INTEGER),
    ("L", T.BIGINT),
    ("D", T.DOUBLE),
    ("DEC", T.Decimal(6, 2)),
    ("S", T.STRING),
    ("BY", T.BYTES),
    ("DT", T.DATE),
    ("TM", T.TIME),
    ("TS", T.TIMESTAMP),
    ("ARR", T.Array(T.BIGINT)),
    ("M", T.Map(T.STRING, T.Decimal(4, 2))),
    ("ST", STRUCT_AB),
]
ALL_VALUES = [
    True,
    -7,
    10_827_272_222,
    1.5,
    Decimal("10.50"),
    "héllo",
    b"\x00\xff",
    -10,
    5000,
    1_600_000_000_000,
    [1, None, 3],
    {"a": Decimal("1.00"), "b": None},
    {"A": 1, "B": None},
]


def round_trip(fmt, columns, values, *, is_key=False, wrap_single=True):
    data = make_serializer(fmt, columns, is_key=is_key, wrap_single=wrap_single)(values)
    back = make_deserializer(fmt, columns, is_key=is_key, wrap_single=wrap_single)(data)
    return data, back


# --- JSON --------------------------------------------------------------------------------


def test_json_round_trips_every_type() -> None:
    data, back = round_trip(JSON, ALL_TYPES, ALL_VALUES)
    assert back == ALL_VALUES
    written = orjson.loads(data)
    assert written["BY"] == "AP8="
    assert written["ST"] == {"A": 1, "B": None}


def test_json_writes_decimal_with_scale_and_double_as_fraction() -> None:
    cols = [("DEC", T.Decimal(4, 2)), ("D", T.DOUBLE)]
    data = make_serializer(JSON, cols, is_key=False)([Decimal("10.50"), 1.0])
    assert data == b'{"DEC":10.50,"D":1.0}'


def test_json_reads_field_names_exactly_then_upper_cased() -> None:
    cols = [("FOO", T.INTEGER), ("@TIMESTAMP", T.BIGINT), ("quoted", T.STRING)]
    read = make_deserializer(JSON, cols, is_key=False)
    assert read(b'{"foo": 1, "@timestamp": 4, "quoted": "x"}') == [1, 4, "x"]
    # A quoted lower-case column matches only its exact spelling.
    assert read(b'{"FOO": 2, "QUOTED": "x"}') == [2, None, None]
    # An explicit null under the exact name wins over an upper-cased match.
    assert read(b'{"FOO": null, "Foo": 3}') == [None, None, None]


def test_json_missing_fields_are_null_and_null_record_is_tombstone() -> None:
    read = make_deserializer(JSON, [("A", T.INTEGER), ("B", T.STRING)], is_key=False)
    assert read(b"{}") == [None, None]
    assert read(None) is None
    assert read(b"null") is None
    assert make_serializer(JSON, [("A", T.INTEGER)], is_key=False)(None) is None
    assert make_serializer(JSON, [("A", T.INTEGER)], is_key=False)([None]) == b'{"A":null}'


def test_json_unwrapped_single_value() -> None:
    cols = [("V", T.Map(T.STRING, T.DOUBLE))]
    data, back = round_trip(JSON, cols, [{"b": 76.54}], wrap_single=False)
    assert data == b'{"b":76.54}'
    assert back == [{"b": 76.54}]
    write = make_serializer(JSON, [("V", T.BOOLEAN)], is_key=False, wrap_single=False)
    assert write([None]) is None
    read = make_deserializer(JSON, [("V", T.INTEGER)], is_key=False, wrap_single=False)
    assert read(b"10") == [10]


def test_json_keys_single_unwrapped_several_as_object() -> None:
    data, back = round_trip(JSON, [("K", T.BIGINT)], [998877665544332211], is_key=True)
    assert data == b"998877665544332211"
    assert back == [998877665544332211]
    cols = [("K1", T.STRING), ("K2", T.INTEGER)]
    data, back = round_trip(JSON, cols, ["foo", 2], is_key=True)
    assert orjson.loads(data) == {"K1": "foo", "K2": 2}
    assert back == ["foo", 2]
    struct_key = make_deserializer(JSON, [("K", T.Struct((T.Field("F", T.DOUBLE),)))], is_key=True)
    assert struct_key(b'{"f": 45.67}') == [{"F": 45.67}]
    assert make_serializer(JSON, [("K", T.STRING)], is_key=True)([None]) is None


def test_json_reads_decimals_exactly() -> None:
    cols = [("V", T.Decimal(33, 16))]
    read = make_deserializer(JSON, cols, is_key=False)
    value = read(b'{"V": 12345678987654321.2345678987654321}')
    assert value == [Decimal("12345678987654321.2345678987654321")]
    assert read(b'{"V": 10}') == [Decimal("10.0000000000000000")]


def test_json_deserialization_errors_name_target_and_path() -> None:
    read = make_deserializer(JSON, [("S", STRUCT_AB)], is_key=False, topic="t")
    with pytest.raises(SerdeError) as err:
        read(b'{"S": {"A": true}}')
    assert str(err.value) == (
        "Failed to deserialize value from topic: t. Can't convert type. "
        "sourceType: BooleanNode, requiredType: INTEGER, path: $.S.A"
    )
    with pytest.raises(SerdeError, match="Invalid JSON"):
        read(b"{not json")
    with pytest.raises(SerdeError, match=r"requiredType: STRUCT<`S` STRUCT"):
        read(b"[1]")


# --- JSON coercions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "t", "expected"),
    [
        (10, T.STRING, "10"),
        (12.5, T.STRING, "12.5"),
        (Decimal("12.50"), T.STRING, "12.50"),
        (1e16, T.STRING, "1E+16"),
        (True, T.STRING, "true"),
        ({"a": 1, "b": [1.5]}, T.STRING, '{"a":1,"b":[1.5]}'),
        ([1, "a", None], T.STRING, "[1, a, null]"),
        ("12", T.INTEGER, 12),
        (1.9, T.INTEGER, 1),
        (-1.9, T.BIGINT, -1),
        (2**31, T.INTEGER, -(2**31)),
        ("-9", T.BIGINT, -9),
        ("1e3", T.DOUBLE, 1000.0),
        ("NaN", T.DOUBLE, float("inf") * 0),
        (3, T.DOUBLE, 3.0),
        ("1.5", T.Decimal(4, 2), Decimal("1.50")),
        (0.1, T.Decimal(4, 2), Decimal("0.10")),
        (10, T.Decimal(6, 4), Decimal("10.0000")),
        ("5", T.DATE, 5),
        ("6", T.TIME, 6),
        ("1", T.TIMESTAMP, 1),
        ("ew==", T.BYTES, b"{"),
        (["1", 2], T.Array(T.INTEGER), [1, 2]),
        ({"1": "x"}, T.Map(T.INTEGER, T.STRING), {1: "x"}),
        ({"a": 1, "B": "b"}, STRUCT_AB, {"A": 1, "B": "b"}),
    ],
)
def test_json_to_value_coercions(obj, t, expected) -> None:
    value = json_to_value(obj, t)
    if expected != expected:  # NaN
        assert value != value
    else:
        assert value == expected
        assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("obj", "t", "message"),
    [
        ("true", T.BOOLEAN, "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN"),
        (1, T.BOOLEAN, "Can't convert type. sourceType: IntNode, requiredType: BOOLEAN"),
        (True, T.INTEGER, "Can't convert type. sourceType: BooleanNode, requiredType: INTEGER"),
        ("1.5", T.INTEGER, "Can't coerce string to type. targetType: INTEGER"),
        ("2147483648", T.INTEGER, "Can't coerce string to type. targetType: INTEGER"),
        (" 1", T.BIGINT, "Can't coerce string to type. targetType: BIGINT"),
        ("x", T.DOUBLE, "Can't coerce string to type. targetType: DOUBLE"),
        (
            1.234,
            T.Decimal(4, 2),
            "Cannot fit decimal '1.234' into DECIMAL(4, 2) without rounding. (Requires 4,3)",
        ),
        (
            100,
            T.Decimal(4, 2),
            "Numeric field overflow: A field with precision 4 and scale 2 must round to an "
            "absolute value less than 10^2. Got 100",
        ),
        (86_400_001, T.TIME, "Time values must use number of milliseconds greater than 0"),
        ("@@", T.BYTES, "Value is not a valid Base64 encoded string: @@"),
        ({"a": 1}, T.Array(T.INTEGER), "sourceType: ObjectNode, requiredType: ARRAY<INTEGER>"),
        ([1, "x"], T.Array(T.INTEGER), "targetType: INTEGER, path: $[1]"),
        ({"k": "x"}, T.Map(T.STRING, T.INTEGER), "path: $.k.value"),
    ],
)
def test_json_to_value_refusals(obj, t, message) -> None:
    with pytest.raises(SerdeError) as err:
        json_to_value(obj, t)
    assert message in str(err.value)


def test_value_to_json() -> None:
    assert value_to_json(None, T.STRING) is None
    assert value_to_json(Decimal("10.50"), T.Decimal(4, 2)) == 10.5
    assert value_to_json(b"\x00\xff", T.BYTES) == "AP8="
    assert value_to_json(3, T.DOUBLE) == 3.0
    assert value_to_json(-10, T.DATE) == -10
    assert value_to_json({1: b"a"}, T.Map(T.INTEGER, T.BYTES)) == {"1": "YQ=="}
    assert value_to_json({"A": 1}, STRUCT_AB) == {"A": 1, "B": None}
    assert value_to_json([Decimal("1.5"), None], T.Array(T.Decimal(2, 1))) == [1.5, None]


def test_value_to_api_json_writes_temporal_values_as_text() -> None:
    assert value_to_api_json(-1, T.TIMESTAMP) == "1969-12-31T23:59:59.999"
    assert value_to_api_json(1562634000000, T.TIMESTAMP) == "2019-07-09T01:00:00.000"
    assert value_to_api_json(-10, T.DATE) == "1969-12-22"
    assert value_to_api_json(3600000, T.TIME) == "01:00:00"
    assert value_to_api_json(3600042, T.TIME) == "01:00:00.042"
    nested = T.Map(T.STRING, T.Array(T.DATE))
    assert value_to_api_json({"k": [0, None]}, nested) == {"k": ["1970-01-01", None]}
    assert value_to_api_json(Decimal("10.50"), T.Decimal(4, 2)) == 10.5  # the rest as before


# --- DELIMITED ---------------------------------------------------------------------------


def test_delimited_round_trips_primitives() -> None:
    primitives = [c for c in ALL_TYPES if c[1].is_primitive]
    values = [v for c, v in zip(ALL_TYPES, ALL_VALUES, strict=True) if c[1].is_primitive]
    data, back = round_trip(DELIMITED, primitives, values)
    assert data == b"true,-7,10827272222,1.5,10.50,h\xc3\xa9llo,AP8=,-10,5000,1600000000000"
    assert back == values


def test_delimited_quotes_as_commons_csv_minimal() -> None:
    cols = [("A", T.STRING), ("B", T.STRING), ("C", T.STRING)]
    write = make_serializer(DELIMITED, cols, is_key=False)
    assert write(["-1", "-1", "x"]) == b'"-1",-1,x'
    assert write(["", "", None]) == b'"",,'
    assert write(["a,b", 'say "hi"', "end "]) == b'"a,b","say ""hi""","end "'
    assert write(["#x", "line\nbreak", "ok"]) == b'"#x","line\nbreak",ok'
    read = make_deserializer(DELIMITED, cols, is_key=False)
    assert read(b'"a,b","say ""hi""",') == ["a,b", 'say "hi"', None]
    assert read(b'"","",""') == [None, None, None]


def test_delimited_decimal_and_double_text() -> None:
    cols = [("V", T.Decimal(33, 16))]
    write = make_serializer(DELIMITED, cols, is_key=False)
    read = make_deserializer(DELIMITED, cols, is_key=False)
    assert write(read(b".12")) == b"0.1200000000000000"
    assert write(read(b"-12345.12")) == b'"-12345.1200000000000000"'
    doubles = make_serializer(DELIMITED, [("D", T.DOUBLE), ("E", T.DOUBLE)], is_key=False)
    assert doubles([1e7, 1e-4]) == b"1.0E7,1.0E-4"


def test_delimited_boolean_parses_like_java() -> None:
    read = make_deserializer(DELIMITED, [("K", T.BOOLEAN)], is_key=True)
    assert read(b"TRUE") == [True]
    assert read(b'"true"') == [True]
    assert read(b"yes") == [False]


def test_delimited_custom_delimiters_and_multi_column_keys() -> None:
    cols = [("K1", T.STRING), ("K2", T.STRING)]
    semi = FormatInfo("DELIMITED", {"delimiter": ";"})
    assert make_deserializer(semi, cols, is_key=True)(b"foo,bar;baz") == ["foo,bar", "baz"]
    tab = FormatInfo("DELIMITED", {"delimiter": "TAB"})
    data, back = round_trip(tab, cols, ["a b", "c"], is_key=True)
    assert data == b"a b\tc"
    assert back == ["a b", "c"]
    space = FormatInfo("DELIMITED", {"delimiter": "SPACE"})
    assert make_serializer(space, cols, is_key=True)(["a", "b c"]) == b'a "b c"'


def test_delimited_errors() -> None:
    cols = [("A", T.INTEGER), ("B", T.INTEGER)]
    read = make_deserializer(DELIMITED, cols, is_key=False, topic="t")
    with pytest.raises(SerdeError) as err:
        read(b"1,2,3")
    assert str(err.value) == (
        "Error deserializing delimited: Column count mismatch on deserialization. "
        "topic: t, expected: 2, got: 3"
    )
    with pytest.raises(SerdeError, match="No fields in record"):
        read(b"")
    with pytest.raises(SerdeError, match='For input string: "x"'):
        read(b"1,x")
    assert read(None) is None


def test_parse_delimiter() -> None:
    assert parse_delimiter("|") == "|"
    assert parse_delimiter("TAB") == "\t"
    assert parse_delimiter("SPACE") == " "
    with pytest.raises(SerdeError, match=r"Invalid delimiter value: '<~>'\. Delimiter must be"):
        parse_delimiter("<~>")
    with pytest.raises(SerdeError, match="Delimiter cannot be empty"):
        parse_delimiter("\t")


# --- KAFKA -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "value", "data"),
    [
        (T.INTEGER, -2, struct.pack(">i", -2)),
        (T.BIGINT, 10_000_000_000, struct.pack(">q", 10_000_000_000)),
        (T.DOUBLE, 1.5, struct.pack(">d", 1.5)),
        (T.STRING, "héllo", "héllo".encode()),
        (T.STRING, "", b""),
        (T.BYTES, b"\x00\x01", b"\x00\x01"),
    ],
)
def test_kafka_primitives(t, value, data) -> None:
    for is_key in (True, False):
        written, back = round_trip(KAFKA, [("V", t)], [value], is_key=is_key)
        assert written == data
        assert back == [value]


def test_kafka_nulls_and_size_errors() -> None:
    cols = [("V", T.INTEGER)]
    assert make_serializer(KAFKA, cols, is_key=True)([None]) is None
    assert make_serializer(KAFKA, cols, is_key=False)(None) is None
    read = make_deserializer(KAFKA, cols, is_key=False, topic="t")
    assert read(None) is None
    with pytest.raises(SerdeError, match="Size of data received by IntegerDeserializer is not 4"):
        read(b"\x00\x01")
    longs = make_deserializer(KAFKA, [("V", T.BIGINT)], is_key=True)
    with pytest.raises(SerdeError, match="Size of data received by LongDeserializer is not 8"):
        longs(b"\x00")


# --- NONE and keyless --------------------------------------------------------------------


def test_none_format_and_schemas_without_columns() -> None:
    assert make_serializer(NONE, [], is_key=True)([]) is None
    assert make_deserializer(NONE, [], is_key=True)(b"data that should be ignored") == []
    assert make_deserializer(KAFKA, [], is_key=True)(b"ignored") == []
    assert make_serializer(JSON, [], is_key=True)([]) is None


# --- schema checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "columns", "is_key", "wrap", "message"),
    [
        ("FOO", [], False, None, "Unknown format: FOO"),
        (
            "KAFKA",
            [("K", T.BOOLEAN)],
            True,
            None,
            "Key format does not support schema.\nformat: KAFKA\nschema: "
            "Persistence{columns=[`K` BOOLEAN KEY], features=[]}\n"
            "reason: The 'KAFKA' format does not support type 'BOOLEAN'",
        ),
        (
            "kafka",
            [("V0", T.INTEGER), ("V1", T.STRING)],
            False,
            None,
            "The 'KAFKA' format only supports a single field. Got: [`V0` INTEGER, `V1` STRING]",
        ),
        ("KAFKA", [("V", T.Decimal(2, 1))], False, None, "does not support type 'DECIMAL'"),
        ("KAFKA", [("V", T.Array(T.INTEGER))], False, None, "does not support type 'ARRAY'"),
        (
            "NONE",
            [("K", T.STRING)],
            True,
            None,
            "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]",
        ),
        (
            "NONE",
            [("FOO", T.INTEGER)],
            False,
            None,
            "The 'NONE' format can only be used when no columns are defined. Got: [`FOO` INTEGER]",
        ),
        (
            "DELIMITED",
            [("ROWKEY", STRUCT_AB)],
            True,
            None,
            "The 'DELIMITED' format does not support type 'STRUCT', column: `ROWKEY`",
        ),
        (
            "DELIMITED",
            [("K", T.Array(T.Map(T.INTEGER, T.DOUBLE)))],
            True,
            None,
            "Map keys, including types that contain maps, are not supported as they may lead to "
            "unexpected behavior due to inconsistent serialization. Key column name: `K`. "
            "Column type: ARRAY<MAP<INTEGER, DOUBLE>>. "
            "See https://github.com/confluentinc/ksql/issues/6621 for more.",
        ),
        (
            "JSON",
            [("V", T.Struct((T.Field("F", T.Map(T.INTEGER, T.DOUBLE)),)))],
            False,
            None,
            "JSON only supports MAP types with STRING keys",
        ),
        (
            "DELIMITED",
            [("V", T.INTEGER)],
            False,
            True,
            "Format 'DELIMITED' does not support 'WRAP_SINGLE_VALUE' set to 'true'.",
        ),
        (
            "JSON",
            [("A", T.STRING), ("B", T.STRING)],
            False,
            False,
            "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas",
        ),
    ],
)
def test_check_format_refusals(name, columns, is_key, wrap, message) -> None:
    with pytest.raises(SerdeError) as err:
        check_format(name, columns, is_key=is_key, wrap_single=wrap)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("name", "columns", "is_key", "wrap"),
    [
        ("JSON", ALL_TYPES, False, None),
        ("JSON", [("K1", T.STRING), ("K2", STRUCT_AB)], True, None),
        ("JSON", [("V", T.STRING)], False, False),
        ("DELIMITED", [("V", T.BYTES)], False, False),
        ("KAFKA", [("K", T.BYTES)], True, None),
        ("KAFKA", [("V", T.DOUBLE)], False, False),
        ("NONE", [], True, None),
    ],
)
def test_check_format_accepts(name, columns, is_key, wrap) -> None:
    check_format(name, columns, is_key=is_key, wrap_single=wrap)


def test_check_properties() -> None:
    check_properties(FormatInfo("DELIMITED", {"delimiter": "|"}))
    with pytest.raises(SerdeError, match=r"JSON does not support the following configs: \["):
        check_properties(FormatInfo("json", {"delimiter": "|"}))
    with pytest.raises(SerdeError, match="Invalid delimiter value"):
        check_properties(FormatInfo("DELIMITED", {"delimiter": "ab"}))


def test_java_double_str() -> None:
    cases = {1.0: "1.0", 0.001: "0.001", 1e7: "1.0E7", 1.5e-10: "1.5E-10", -0.0: "-0.0"}
    assert {f: java_double_str(f) for f in cases} == cases
    # One shortest digit is written as the two digits nearest the exact binary value.
    assert java_double_str(5e-324) == "4.9E-324"
    assert java_double_str(-1e22) == "-1.0E22"


def test_json_writes_non_finite_doubles_as_jackson_text() -> None:
    write = make_serializer(JSON, [("D", T.DOUBLE), ("A", T.Array(T.DOUBLE))], is_key=False)
    data = write([math.nan, [math.inf, -math.inf, 1.5]])
    assert orjson.loads(data) == {"D": "NaN", "A": ["Infinity", "-Infinity", 1.5]}


def test_json_writes_null_map_key_as_text() -> None:
    write = make_serializer(JSON, [("M", T.Map(T.STRING, T.INTEGER))], is_key=False)
    assert orjson.loads(write([{"a": 1, None: 2}])) == {"M": {"a": 1, "null": 2}}
