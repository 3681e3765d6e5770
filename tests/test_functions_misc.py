"""Math, conditional, date/time, array, map and lambda functions: resolution and behaviour.

Expected values come from ksqlDB's documented behaviour and its query-validation vectors.
"""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

import pytest

import sqlengine.functions.arrays
import sqlengine.functions.conditional
import sqlengine.functions.datetime_funcs
import sqlengine.functions.lambdas
import sqlengine.functions.maps
import sqlengine.functions.math_funcs  # noqa: F401  (registration side effects)
from sqlengine import types as T
from sqlengine.functions import java_time_format as jt
from sqlengine.functions.registry import REGISTRY, UNIT, ArgType, FunctionError, LambdaType

INT, BIGINT, DOUBLE, STRING = T.INTEGER, T.BIGINT, T.DOUBLE, T.STRING


def fn(name: str, *types: ArgType) -> Any:
    f = REGISTRY.scalar(name)
    assert f is not None, name
    return f.resolve(list(types))


def call(name: str, types: list[ArgType], *args: Any) -> Any:
    return fn(name, *types).impl(*args)


def returns(name: str, *types: ArgType) -> T.SqlType:
    return fn(name, *types).return_type


# ---------------------------------------------------------------------------- math


def test_registered_with_category_and_description() -> None:
    for name, category in (
        ("ABS", "MATHEMATICAL"),
        ("GREATEST", "MATHEMATICAL"),
        ("COALESCE", "CONDITIONAL"),
        ("PARSE_TIMESTAMP", "DATE / TIME"),
        ("ARRAY_SORT", "ARRAY"),
        ("MAP_KEYS", "MAP"),
        ("REDUCE", "LAMBDA"),
    ):
        info = REGISTRY.describe(name)
        assert info is not None and info.category == category and info.description


def test_abs_types_and_java_overflow() -> None:
    assert returns("ABS", INT) == INT and returns("ABS", T.Decimal(2, 1)) == T.Decimal(2, 1)
    assert call("ABS", [INT], -(2**31)) == -(2**31)
    assert call("ABS", [DOUBLE], -3.1) == 3.1
    assert call("ABS", [T.Decimal(2, 1)], Decimal("-3.2")) == Decimal("3.2")


def test_floor_ceil_keep_decimal_scale() -> None:
    floor = fn("FLOOR", T.Decimal(2, 1))
    assert floor.return_type == T.Decimal(2, 1)
    assert str(floor.impl(Decimal("-1.1"))) == "-2.0"
    assert call("FLOOR", [DOUBLE], -1.5) == -2.0
    assert str(call("CEIL", [T.Decimal(2, 1)], Decimal("1.1"))) == "2.0"
    assert call("CEIL", [INT], 7) == 7


def test_round_follows_math_round() -> None:
    rnd = fn("ROUND", DOUBLE)
    assert rnd.return_type == BIGINT
    assert [rnd.impl(v) for v in (1.5, -1.5, -1.7, 12345.678)] == [2, -1, -2, 12346]
    places = fn("ROUND", DOUBLE, INT)
    assert places.return_type == DOUBLE
    assert places.impl(-1.5, 0) == -1.0
    assert places.impl(12345.678, 2) == 12345.68
    assert places.impl(-12345.678, -1) == -12350.0
    assert places.impl(111.0, -2) == 100.0


def test_round_decimal_types() -> None:
    v = Decimal("12345678987654321.2345678987654321")
    whole = fn("ROUND", T.Decimal(33, 16))
    assert whole.return_type == T.Decimal(17, 0)
    assert whole.impl(v) == Decimal("12345678987654321")
    scaled = fn("ROUND", T.Decimal(33, 16), INT)
    assert scaled.return_type == T.Decimal(33, 16)
    assert str(scaled.impl(v, 1)) == "12345678987654321.2000000000000000"
    assert str(scaled.impl(v, -2)) == "12345678987654300.0000000000000000"
    assert str(scaled.impl(v, 10)) == "12345678987654321.2345678988000000"


def test_trunc() -> None:
    assert returns("TRUNC", DOUBLE) == BIGINT and call("TRUNC", [DOUBLE], -1.7) == -1
    assert call("TRUNC", [DOUBLE, INT], 12345.678, 2) == 12345.67
    assert call("TRUNC", [DOUBLE, INT], -12345.678, -1) == -12340.0
    assert call("TRUNC", [T.Decimal(12, 7)], Decimal("-1.7000000")) == Decimal("-1")
    assert returns("TRUNC", INT) == BIGINT


def test_double_functions_follow_java_math() -> None:
    assert call("EXP", [INT], -1) == 0.36787944117144233
    assert math.isnan(call("LN", [INT], -1)) and call("LN", [DOUBLE], 0.0) == -math.inf
    assert math.isnan(call("SQRT", [BIGINT], -2))
    assert call("CBRT", [INT], -8) == -2.0
    assert call("LOG", [INT], 13) == 2.5649493574615367  # one argument: natural log
    assert call("LOG", [INT, INT], 15, 13) == 0.9471572411831843
    assert call("LOG", [INT, INT], 15, 0) == -math.inf
    assert math.isnan(call("LOG", [INT, INT], 1, 13))
    assert math.isnan(call("LOG", [INT, INT], 0, 13))
    assert call("POWER", [INT, INT], 15, 13) == 1946195068359375.0
    assert call("POWER", [DOUBLE, DOUBLE], 0.0, -1.0) == math.inf
    assert call("COT", [INT], 0) == math.inf
    assert math.isnan(call("ASIN", [INT], 2))
    assert round(call("ATAN2", [INT, INT], -2, -3), 13) == -2.5535900500422
    assert round(call("DEGREES", [INT], 2), 12) == 114.591559026165
    assert call("EXP", [DOUBLE], 1000.0) == math.inf
    assert call("SIGN", [DOUBLE], -3.0) == -1 and returns("SIGN", DOUBLE) == INT
    assert call("PI", []) == math.pi
    assert 0.0 <= call("RANDOM", []) < 1.0


def test_greatest_and_least() -> None:
    g = fn("GREATEST", INT, INT, INT, None, INT)
    assert g.return_type == INT and g.impl(2147483647, -2147483648, None, None, 5) == 2147483647
    assert fn("GREATEST", T.Decimal(9, 2), T.Decimal(7, 6)).return_type == T.Decimal(13, 6)
    mixed = fn("LEAST", INT, BIGINT, T.Decimal(30, 18), DOUBLE, None)
    assert mixed.return_type == DOUBLE and mixed.param_types[:2] == [DOUBLE, DOUBLE]
    assert call("LEAST", [STRING, STRING, None], "zebra", "!", None) == "!"
    assert call("GREATEST", [STRING, None], None, None) is None
    # A STRING argument is parsed into the temporal type of the others.
    dates = fn("GREATEST", T.DATE, None, STRING)
    assert dates.return_type == T.DATE and dates.param_types == [None, None, T.DATE]
    for bad, message in (
        ([INT, BIGINT], "ambiguous method parameters (INTEGER, BIGINT)"),
        ([None, None], "ambiguous method parameters (null, null)"),
        ([STRING, INT], "Function 'greatest' does not accept parameters (STRING, INTEGER)"),
        ([], "does not accept parameters ()"),
    ):
        with pytest.raises(FunctionError, match=message.replace("(", r"\(").replace(")", r"\)")):
            fn("GREATEST", *bad)


def test_geo_distance() -> None:
    assert call("GEO_DISTANCE", [DOUBLE] * 4, 37.4439, -122.1663, 51.5257, -0.1122) == (
        8634.659796579544
    )
    with_unit = fn("GEO_DISTANCE", DOUBLE, DOUBLE, DOUBLE, DOUBLE, STRING)
    assert with_unit.impl(51.5257, -0.1122, -33.9323, 18.4197, "MI") == 6011.1453892944355
    assert with_unit.impl(37.4439, -122.1663, 51.5257, -0.1122, None) == 8634.659796579544
    assert fn("GEO_DISTANCE", DOUBLE, DOUBLE, DOUBLE, INT).return_type == DOUBLE
    with pytest.raises(ValueError):
        with_unit.impl(91.0, 0.0, 0.0, 0.0, "km")
    with pytest.raises(FunctionError):
        fn("GEO_DISTANCE", DOUBLE, DOUBLE, STRING, INT)


# ---------------------------------------------------------------------------- conditional


def test_coalesce_ifnull_nullif() -> None:
    c = fn("COALESCE", INT, INT, INT)
    assert not c.overload.null_propagating and c.impl(None, 2, 1) == 2
    assert fn("COALESCE", T.Array(INT), T.Array(INT)).return_type == T.Array(INT)
    with pytest.raises(FunctionError, match=r"Function 'COALESCE' does not accept parameters \(\)"):
        fn("COALESCE")
    assert call("IFNULL", [STRING, STRING], None, "x") == "x"
    nullif = fn("NULLIF", T.Array(INT), T.Array(INT))
    assert nullif.impl([1, 2, 3], [1, 2, 3]) is None and nullif.impl([7, 8], [1, 2, 3]) == [7, 8]
    assert call("NULLIF", [STRING, STRING], None, "x") is None
    assert call("NULLIF", [STRING, STRING], "X", "x") == "X"


# ---------------------------------------------------------------------------- date / time


def test_interval_arithmetic() -> None:
    assert call("DATEADD", [UNIT, INT, T.DATE], "DAYS", -5, 2) == -3
    assert call("DATESUB", [UNIT, INT, T.DATE], "DAY", -5, 5) == 10
    assert call("TIMEADD", [UNIT, INT, T.TIME], "MILLISECONDS", 10, 86399995) == 5
    assert call("TIMESUB", [UNIT, INT, T.TIME], "MILLISECONDS", 10, 5) == 86399995
    assert call("TIMESTAMPADD", [UNIT, INT, T.TIMESTAMP], "HOURS", 1, 0) == 3_600_000
    assert call("TIMESTAMPSUB", [UNIT, INT, T.TIMESTAMP], "MILLISECOND", -5, -100) == -95
    with pytest.raises(FunctionError, match=r"\(DATE, INTEGER, DATE\)"):
        fn("DATEADD", T.DATE, INT, T.DATE)


def test_convert_tz_and_epoch_conversions() -> None:
    tz = fn("CONVERT_TZ", T.TIMESTAMP, STRING, STRING)
    assert tz.return_type == T.TIMESTAMP
    assert tz.impl(100, "+0200", "+0500") == 10800100
    assert tz.impl(1589234313000, "America/Los_Angeles", "America/New_York") == 1589245113000
    with pytest.raises(ValueError):
        tz.impl(0, "Not/AZone", "UTC")
    assert returns("FROM_UNIXTIME", BIGINT) == T.TIMESTAMP and returns("FROM_DAYS", INT) == T.DATE
    assert call("UNIX_TIMESTAMP", [T.TIMESTAMP], 1589234313000) == 1589234313000
    assert abs(call("UNIX_TIMESTAMP", []) - time.time() * 1000) < 60_000
    assert call("UNIX_DATE", []) > 19000 and call("UNIX_DATE", [T.DATE], 10) == 10


def test_format_dates_and_times() -> None:
    assert returns("DATETOSTRING", INT, STRING) == STRING
    assert call("DATETOSTRING", [INT, STRING], 17662, "yyyy-MM-dd") == "2018-05-11"
    assert call("FORMAT_DATE", [T.DATE, STRING], 18993, "dd-MMM-yyyy") == "01-Jan-2022"
    assert call("FORMAT_DATE", [T.DATE, STRING], -1, "dd-MM-yyyy'Sophia'") == "31-12-1969Sophia"
    assert call("FORMAT_TIME", [T.TIME, STRING], 65000, "HH_mm_ss_SSS") == "00_01_05_000"
    assert call("FORMAT_TIME", [T.TIME, STRING], 1234567, "HHmmss'AAAAA'") == "002034AAAAA"
    zoned = fn("TIMESTAMPTOSTRING", BIGINT, STRING, STRING)
    la = zoned.impl(1526075913000, "yyyy-MM-dd HH:mm:ss zzz", "America/Los_Angeles")
    assert la == "2018-05-11 14:58:33 PDT"
    assert zoned.impl(0, "yyyy-MM-dd HH:mm:ss Z", "UTC") == "1970-01-01 00:00:00 +0000"
    fmt = fn("FORMAT_TIMESTAMP", T.TIMESTAMP, STRING)
    assert fmt.impl(10, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX") == "1970-01-01T00:00:00.010Z"
    assert fmt.impl(-1, "yyyy-MM-dd HH:mm:ss.SSS") == "1969-12-31 23:59:59.999"
    with pytest.raises(ValueError):
        call("FORMAT_DATE", [T.DATE, STRING], 0, "HH:mm")  # a DATE has no hour


def test_parse_dates_and_times() -> None:
    assert returns("STRINGTODATE", STRING, STRING) == INT
    assert returns("PARSE_DATE", STRING, STRING) == T.DATE
    cases = [
        ("2018-05-11Lit", "yyyy-MM-dd'Lit'", 17662),
        ("11/05/2019", "dd/MM/yyyy", 18027),
        ("01-JAN-2022", "dd-MMM-yyyy", 18993),
        ("JAN-2022", "MMM-yyyy", 18993),
        ("20200101", "yyyyMMdd", 18262),
    ]
    for text, pattern, days in cases:
        assert call("PARSE_DATE", [STRING, STRING], text, pattern) == days
        assert call("STRINGTODATE", [STRING, STRING], text, pattern) == days
    with pytest.raises(ValueError):
        call("STRINGTODATE", [STRING, STRING], "foo", "yyyyMMdd")
    parse_time = fn("PARSE_TIME", STRING, STRING)
    assert parse_time.impl("00:01:05Lit", "HH:mm:ss'Lit'") == 65000
    assert parse_time.impl("11/05/19", "HH/mm/ss") == 39919000
    assert parse_time.impl("01:00:00 Pm", "hh:mm:ss a") == 46800000


def test_parse_timestamps() -> None:
    s2t = fn("STRINGTOTIMESTAMP", STRING, STRING)
    assert s2t.return_type == BIGINT
    iso = "yyyy-MM-dd'T'HH:mm:ssX"
    assert s2t.impl("2018-05-11T21:58:33Z", iso) == 1526075913000
    assert s2t.impl("2020-05-11T21:58:33z", iso) == 1589234313000
    assert s2t.impl("2019-08-27T13:31:09.2+0000", "yyyy-MM-dd'T'HH:mm:ss.SX") == 1566912669200
    parse = fn("PARSE_TIMESTAMP", STRING, STRING)
    assert parse.return_type == T.TIMESTAMP
    assert parse.impl("2018-05-11T21:58:33 PST", "yyyy-MM-dd'T'HH:mm:ss zzz") == 1526101113000
    in_zone = fn("PARSE_TIMESTAMP", STRING, STRING, STRING)
    assert in_zone.impl("1970-01-01 02:00", "yyyy-MM-dd HH:mm", "+02:00") == 0
    assert in_zone.impl("1970-01-01 00:00", "yyyy-MM-dd HH:mm", "America/New_York") == 18_000_000
    with pytest.raises(ValueError):
        parse.impl("not a timestamp", iso)


def test_java_pattern_details() -> None:
    moment = jt.to_datetime(1526075913123, jt.zone_of("Asia/Kolkata"))
    assert jt.format_value(moment, "EEE, d MMMM yy h:mm a VV") == (
        "Sat, 12 May 18 3:28 AM Asia/Kolkata"
    )
    assert jt.format_value(moment, "XXX xx Z ZZZZ O D SS") == (
        "+05:30 +0530 +0530 GMT+05:30 GMT+5:30 132 12"
    )
    assert jt.format_value(moment, "''yyyy'' 'o''clock'") == "'2018' o'clock"
    with pytest.raises(ValueError):
        jt.format_value(moment, "yyyy-bb")  # unknown pattern letter
    assert jt.zone_of("GMT+2") == jt.zone_of("+02:00")


# ---------------------------------------------------------------------------- arrays


def test_array_set_functions() -> None:
    ints = T.Array(INT)
    assert call("ARRAY_DISTINCT", [ints], [0, None, 1, 0, None, -1]) == [0, None, 1, -1]
    assert call("ARRAY_EXCEPT", [ints, ints], [0, 0, 1, 0, -1], [1, -2]) == [0, -1]
    assert call("ARRAY_INTERSECT", [ints, ints], [0, 0, 1, 0, -1], [1, -2, 0]) == [0, 1]
    assert call("ARRAY_UNION", [ints, ints], [0, 0, 1, 0, -1], [1, -2, 0]) == [0, 1, -1, -2]
    concat = fn("ARRAY_CONCAT", ints, ints)
    assert concat.impl(None, [1, -2]) == [1, -2] and concat.impl(None, None) is None
    nested = T.Array(T.Array(STRING))
    assert call("ARRAY_DISTINCT", [nested], [["a"], ["a"], None]) == [["a"], None]


def test_array_contains_and_remove() -> None:
    contains = fn("ARRAY_CONTAINS", T.Array(STRING), STRING)
    assert contains.return_type == T.BOOLEAN
    assert contains.impl(["Pink", None], "Pink") and not contains.impl(None, "Pink")
    widened = fn("ARRAY_CONTAINS", T.Array(INT), BIGINT)
    assert widened.param_types[0] == T.Array(BIGINT)
    remove = fn("ARRAY_REMOVE", T.Array(INT), INT)
    assert remove.impl([0, None, 1, 0, -1], -1) == [0, None, 1, 0]
    assert remove.impl([0, None, 1], None) == [0, 1] and remove.impl(None, 1) is None
    maps = T.Array(T.Map(STRING, INT))
    remove_map = fn("ARRAY_REMOVE", maps, T.Map(STRING, INT))
    assert remove_map.impl([{"a": 1}, {"a": 3}, None], {"a": 1}) == [{"a": 3}, None]


def test_array_min_max_sort() -> None:
    strings = T.Array(STRING)
    assert returns("ARRAY_MAX", strings) == STRING
    assert call("ARRAY_MAX", [strings], ["foo", "fo", "Food", None, "F", "food"]) == "food"
    assert call("ARRAY_MIN", [T.Array(T.BOOLEAN)], [None, False, True]) is False
    assert call("ARRAY_MIN", [T.Array(INT)], []) is None
    assert call("ARRAY_SORT", [T.Array(INT)], [0, None, 1, 0, -1]) == [-1, 0, 0, 1, None]
    desc = fn("ARRAY_SORT", T.Array(DOUBLE), STRING)
    assert desc.impl([0.0, 0.1, -12345.678, None, 0.3], "desc") == [
        0.3,
        0.1,
        0.0,
        -12345.678,
        None,
    ]
    assert desc.impl([1.0], "sideways") is None


def test_array_join_length_slice() -> None:
    join = fn("ARRAY_JOIN", T.Array(T.BOOLEAN))
    assert join.return_type == STRING and join.impl([True, None, False]) == "true,null,false"
    assert call("ARRAY_JOIN", [T.Array(DOUBLE), STRING], [1.23, -23.42, 0.0], " ") == (
        "1.23 -23.42 0.0"
    )
    assert call("ARRAY_JOIN", [T.Array(DOUBLE), STRING], [1e10], None) == "1.0E10"
    assert call("ARRAY_JOIN", [T.Array(T.Decimal(5, 2))], [Decimal("123.45")]) == "123.45"
    with pytest.raises(ValueError):
        call("ARRAY_JOIN", [T.Array(T.Array(INT))], [[1]])
    assert call("ARRAY_LENGTH", [T.Array(T.Map(STRING, INT))], [{}, {}]) == 2
    sl = fn("SLICE", T.Array(STRING), INT, INT)
    assert sl.impl(["a", "b", "c", "d"], 2, 3) == ["b", "c"]
    assert sl.impl(["a", "b"], None, 1) == ["a"] and sl.impl(["a"], 1, 5) is None


def test_generate_series_and_entries() -> None:
    series = fn("GENERATE_SERIES", INT, INT)
    assert series.return_type == T.Array(INT) and series.impl(3, 0) == [3, 2, 1, 0]
    assert call("GENERATE_SERIES", [BIGINT, BIGINT, INT], 0, 10, 4) == [0, 4, 8]
    with pytest.raises(ValueError):
        call("GENERATE_SERIES", [INT, INT, INT], 0, 10, -1)
    ent = fn("ENTRIES", T.Map(STRING, INT), T.BOOLEAN)
    assert ent.return_type == T.Array(T.Struct((T.Field("K", STRING), T.Field("V", INT))))
    assert ent.impl({"b": 2, "a": 1}, True) == [{"K": "a", "V": 1}, {"K": "b", "V": 2}]


# ---------------------------------------------------------------------------- maps


def test_map_functions() -> None:
    m = T.Map(STRING, INT)
    assert returns("MAP_KEYS", m) == T.Array(STRING) and returns("MAP_VALUES", m) == T.Array(INT)
    assert call("MAP_VALUES", [m], {"foo": 10, "bar": None}) == [10, None]
    union = fn("MAP_UNION", m, m)
    assert union.impl({"foo": 10, "bar": 20}, {"foo": 99, "apple": -1}) == {
        "foo": 99,
        "bar": 20,
        "apple": -1,
    }
    assert union.impl(None, {"foo": None}) == {"foo": None} and union.impl(None, None) is None
    as_map = fn("AS_MAP", T.Array(STRING), T.Array(INT))
    assert as_map.return_type == m
    assert as_map.impl(["a", "b"], [1, 2, 3]) == {"a": 1, "b": 2}
    assert as_map.impl(["a", "b"], [1]) == {"a": 1, "b": None}


# ---------------------------------------------------------------------------- lambdas


def test_transform_resolves_lambda_types() -> None:
    transform = REGISTRY.scalar("TRANSFORM")
    assert transform is not None
    assert transform.lambda_param_types(1, [T.Array(DOUBLE)]) == [DOUBLE]
    m = T.Map(STRING, T.Array(INT))
    assert transform.lambda_param_types(1, [m]) == [STRING, T.Array(INT)]
    key_fn = LambdaType((STRING, T.Array(INT)), STRING)
    assert transform.lambda_param_types(2, [m, key_fn]) == [STRING, T.Array(INT)]
    value_fn = LambdaType((STRING, T.Array(INT)), INT)
    resolved = transform.resolve([m, key_fn, value_fn])
    assert resolved.return_type == T.Map(STRING, INT)
    assert resolved.impl(
        {"a": [2, 4, 5], "b": [-1]}, lambda k, v: k + "_t", lambda k, v: min(v)
    ) == {
        "a_t": 2,
        "b_t": -1,
    }
    arr = transform.resolve([T.Array(DOUBLE), LambdaType((DOUBLE,), STRING)])
    assert arr.return_type == T.Array(STRING)
    assert arr.impl([2.5, None], lambda x: None if x is None else str(x)) == ["2.5", None]


def test_transform_map_rejects_duplicate_keys_and_null_values() -> None:
    impl = fn(
        "TRANSFORM",
        T.Map(STRING, INT),
        LambdaType((STRING, INT), STRING),
        LambdaType((STRING, INT), INT),
    ).impl
    with pytest.raises(ValueError, match="Duplicate key"):
        impl({"1": 1, "2": 2}, lambda k, v: "same", lambda k, v: v)
    with pytest.raises(ValueError):
        impl({"q": 1}, lambda k, v: k, lambda k, v: None)


def test_filter_array_and_map() -> None:
    arr = fn("FILTER", T.Array(INT), LambdaType((INT,), T.BOOLEAN))
    assert arr.return_type == T.Array(INT)
    gt5 = lambda x: None if x is None else x > 5  # noqa: E731
    assert arr.impl([3, 6, 2, 10], gt5) == [6, 10] and arr.impl([5, None], gt5) == []
    filt = REGISTRY.scalar("FILTER")
    assert filt is not None
    m = T.Map(STRING, T.Array(INT))
    assert filt.lambda_param_types(1, [m]) == [STRING, T.Array(INT)]
    by_map = filt.resolve([m, LambdaType((STRING, T.Array(INT)), T.BOOLEAN)])
    assert by_map.return_type == m
    assert by_map.impl({"a": [1], "bcd": [2]}, lambda k, v: len(k) > 2) == {"bcd": [2]}


def test_reduce_array_and_map() -> None:
    red = REGISTRY.scalar("REDUCE")
    assert red is not None
    assert red.lambda_param_types(2, [T.Array(INT), BIGINT]) == [BIGINT, INT]
    assert red.lambda_param_types(2, [T.Map(STRING, DOUBLE), DOUBLE]) == [DOUBLE, STRING, DOUBLE]
    arr = red.resolve([T.Array(INT), INT, LambdaType((INT, INT), INT)])
    assert arr.return_type == INT and not arr.overload.null_propagating
    add = lambda s, x: s + x  # noqa: E731
    assert arr.impl([3, 6], 2, add) == 11 and arr.impl(None, 2, add) == 2
    assert arr.impl([1, 2], None, add) is None
    widened = red.resolve([T.Array(INT), INT, LambdaType((INT, INT), BIGINT)])
    assert widened.return_type == BIGINT and widened.param_types[1] == BIGINT
    by_map = red.resolve([T.Map(STRING, INT), INT, LambdaType((INT, STRING, INT), INT)])
    step = lambda s, k, v: s + v if len(k) > 3 else s - v  # noqa: E731
    assert by_map.impl({"123": 3, "12": 7, "1234": 2}, 0, step) == -8
    assert by_map.impl(None, 0, step) == 0
    strings = red.resolve([T.Array(STRING), STRING, LambdaType((STRING, STRING), STRING)])
    assert strings.impl(["blah", "blah", "blaaah"], "", add) == "blahblahblaaah"
