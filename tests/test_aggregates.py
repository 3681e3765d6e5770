"""The aggregate function library: add/undo/merge/result sequences as ksqlDB computes them
(expected values from ksqlDB's query-validation cases), and overload resolution."""

from __future__ import annotations

import math
import pickle
from decimal import Decimal
from typing import Any

import pytest

from sqlengine import types as T
from sqlengine.aggregates import (
    AggregateError,
    Aggregator,
    aggregate_names,
    init_arg_count,
    is_aggregate,
    resolve_aggregate,
)
from sqlengine.testing.runner import TEST_FUNCTIONS_DIR
from sqlengine.udf import load_extensions

# ksqlDB's test-only UDAFs (VAR_ARG, TEST_UDAF...), as the conformance runner loads them.
load_extensions(TEST_FUNCTIONS_DIR)


def results(agg: Aggregator, values: list[Any], acc: Any = None) -> list[Any]:
    """The result after each add, with the accumulator pickled in between as the operator's
    changelog does."""
    acc = agg.init() if acc is None else acc
    out = []
    for v in values:
        acc = pickle.loads(pickle.dumps(agg.add(acc, v)))
        out.append(agg.result(acc))
    return out


def fold(agg: Aggregator, values: list[Any]) -> Any:
    acc = agg.init()
    for v in values:
        acc = agg.add(acc, v)
    return acc


def test_count_column_star_and_undo() -> None:
    agg = resolve_aggregate("COUNT", [T.STRING], [])
    assert agg.return_type == T.BIGINT
    assert results(agg, ["a", None, "b"]) == [1, 1, 2]
    acc = fold(agg, ["a", "b"])
    assert agg.result(agg.undo(agg.undo(acc, "a"), "b")) == 0  # type: ignore[misc]
    star = resolve_aggregate("COUNT", [], [])
    assert results(star, [None, None]) == [1, 2]


def test_sum_types_wrap_and_undo() -> None:
    assert resolve_aggregate("SUM", [T.INTEGER], []).return_type == T.INTEGER
    assert resolve_aggregate("SUM", [T.BIGINT], []).return_type == T.BIGINT
    doubles = resolve_aggregate("SUM", [T.DOUBLE], [])
    assert results(doubles, [5.4, 100.1]) == [5.4, 105.5]
    ints = resolve_aggregate("SUM", [T.INTEGER], [])
    assert results(ints, [2**31 - 1, 1, None]) == [2**31 - 1, -(2**31), -(2**31)]
    acc = fold(ints, [3, 4])
    assert ints.undo is not None and ints.undo(acc, 3) == 4
    assert ints.merge is not None and ints.merge(3, 4) == 7


def test_sum_decimal_keeps_precision_and_overflows() -> None:
    t = T.Decimal(4, 1)
    agg = resolve_aggregate("SUM", [t], [])
    assert agg.return_type == t
    assert agg.result(agg.init()) == Decimal("0.0")
    values = [Decimal("500.9"), Decimal("300.8")]
    assert results(agg, values) == [Decimal("500.9"), Decimal("801.7")]
    with pytest.raises(AggregateError, match="Numeric field overflow"):
        agg.add(fold(agg, values), Decimal("400.8"))


def test_sum_list() -> None:
    agg = resolve_aggregate("SUM_LIST", [T.Array(T.DOUBLE)], [])
    assert agg.return_type == T.DOUBLE
    assert results(agg, [[1.0, 1.0], [2.0, 2.0], [1.0, None]]) == [2.0, 6.0, 7.0]


def test_avg_double_and_undo() -> None:
    agg = resolve_aggregate("AVG", [T.DOUBLE], [])
    assert agg.return_type == T.DOUBLE
    out = results(agg, [-1.8, 9223372036854.775, 100.2, None])
    assert out == [-1.8, 4611686018426.487, 3074457345651.058, 3074457345651.058]
    ints = resolve_aggregate("AVG", [T.INTEGER], [])
    acc = fold(ints, [1, 2, 2])
    assert ints.result(acc) == 1.6666666666666667
    assert ints.undo is not None and ints.result(ints.undo(acc, 1)) == 2.0
    assert ints.result(ints.init()) == 0.0
    assert ints.intermediate_type == T.Struct(
        (T.Field("SUM", T.INTEGER), T.Field("COUNT", T.BIGINT))
    )


def test_avg_widens_decimal_to_double() -> None:
    agg = resolve_aggregate("AVG", [T.Decimal(4, 2)], [])
    assert results(agg, [Decimal("1.50"), Decimal("2.50")]) == [1.5, 2.0]


def test_min_max_strings_bytes_and_nulls() -> None:
    mn = resolve_aggregate("MIN", [T.STRING], [])
    assert mn.undo is None
    assert results(mn, [None, "B", "A", None, "F"]) == [None, "B", "A", "A", "A"]
    mx = resolve_aggregate("MAX", [T.BYTES], [])
    # Java orders bytes signed: 0x80 sorts below 0x01.
    assert results(mx, [b"\x01", b"\x80", b"\x02"]) == [b"\x01", b"\x01", b"\x02"]
    assert mx.merge is not None and mx.merge(None, b"\x03") == b"\x03"
    assert resolve_aggregate("MAX", [T.TIME], []).return_type == T.TIME


def test_topk_ties_and_struct_form() -> None:
    agg = resolve_aggregate("TOPK", [T.INTEGER], [3])
    assert agg.return_type == T.Array(T.INTEGER)
    assert results(agg, [0, 100, 99, 7, 100]) == [
        [0],
        [100, 0],
        [100, 99, 0],
        [100, 99, 7],
        [100, 100, 99],
    ]
    rows = resolve_aggregate("TOPK", [T.INTEGER, T.STRING], [3])
    assert rows.return_type == T.Array(
        T.Struct((T.Field("sort_col", T.INTEGER), T.Field("col0", T.STRING)))
    )
    out = results(rows, [(0, "zero"), (100, "one"), (99, "two"), (None, "x"), (100, None)])
    assert out[-1] == [
        {"sort_col": 100, "col0": "one"},
        {"sort_col": 100, "col0": None},
        {"sort_col": 99, "col0": "two"},
    ]
    assert agg.merge is not None and agg.merge([9, 5, 1], [7, 5]) == [9, 7, 5]


def test_topkdistinct_and_merge() -> None:
    agg = resolve_aggregate("TOPKDISTINCT", [T.STRING], [3])
    assert results(agg, ["a", "b", "c", "b", "d"])[-2:] == [["c", "b", "a"], ["d", "c", "b"]]
    assert agg.merge is not None and agg.merge([9, 5, 1], [9, 7]) == [9, 7, 5]


def test_collect_list_limit_undo_and_merge() -> None:
    agg = resolve_aggregate("COLLECT_LIST", [T.INTEGER], [])
    assert results(agg, [500, None, 300]) == [[500], [500, None], [500, None, 300]]
    assert agg.undo is not None and agg.undo([1, 2, 1], 1) == [1, 2]
    limited = resolve_aggregate(
        "COLLECT_LIST", [T.INTEGER], [], {"ksql.functions.collect_list.limit": "1"}
    )
    assert results(limited, [0, 100]) == [[0], [0]]
    assert limited.merge is not None and limited.merge([1], [2, 3]) == [1]


def test_collect_set_distinct_maps_and_limit() -> None:
    agg = resolve_aggregate("COLLECT_SET", [T.Map(T.STRING, T.BIGINT)], [])
    assert agg.undo is None
    out = results(agg, [{"a": 1, "b": 2}, {"b": 2, "a": 1}, None])
    assert out[-1] == [{"a": 1, "b": 2}, None]
    limited = resolve_aggregate(
        "COLLECT_SET", [T.INTEGER], [], {"ksql.functions.collect_set.limit": 2}
    )
    assert limited.merge is not None and limited.merge([1], [1, 2, 3]) == [1, 2]


def test_results_are_snapshots() -> None:
    agg = resolve_aggregate("COLLECT_LIST", [T.STRING], [])
    acc = agg.add(agg.init(), "a")
    first = agg.result(acc)
    agg.add(acc, "b")
    assert first == ["a"]


def test_histogram_undo_and_limit() -> None:
    agg = resolve_aggregate("HISTOGRAM", [T.STRING], [])
    assert agg.return_type == T.Map(T.STRING, T.BIGINT)
    acc = fold(agg, ["alice", "bob", "bob"])
    assert agg.result(acc) == {"alice": 1, "bob": 2}
    assert agg.undo is not None
    assert agg.result(agg.undo(agg.undo(acc, "bob"), "bob")) == {"alice": 1}
    full = fold(agg, [str(i) for i in range(1001)])
    assert len(agg.result(full)) == 1000


def test_earliest_by_offset_forms() -> None:
    single = resolve_aggregate("EARLIEST_BY_OFFSET", [T.INTEGER], [])
    assert single.undo is None
    assert results(single, [None, 13, 14]) == [None, 13, 13]
    keep_nulls = resolve_aggregate("EARLIEST_BY_OFFSET", [T.INTEGER], [False])
    assert results(keep_nulls, [None, 13]) == [None, None]
    many = resolve_aggregate("EARLIEST_BY_OFFSET", [T.INTEGER], [2, False])
    assert many.return_type == T.Array(T.INTEGER)
    assert results(many, [None, 13, 14]) == [[None], [None, 13], [None, 13]]
    assert many.intermediate_type == T.Array(
        T.Struct((T.Field("SEQ", T.BIGINT), T.Field("VAL", T.INTEGER)))
    )


def test_latest_by_offset_forms() -> None:
    single = resolve_aggregate("LATEST_BY_OFFSET", [T.STRING], [])
    assert results(single, ["a", None, "b"]) == ["a", "a", "b"]
    many = resolve_aggregate("LATEST_BY_OFFSET", [T.INTEGER], [2, False])
    assert results(many, [12, None, 13]) == [[12], [12, None], [None, 13]]


def test_by_offset_session_merge_orders_by_arrival() -> None:
    agg = resolve_aggregate("EARLIEST_BY_OFFSET", [T.INTEGER], [2, False])
    assert agg.merge is not None
    first, second = fold(agg, [None]), fold(agg, [1])  # first window's value arrived first
    merged = agg.merge(agg.merge(agg.init(), second), first)
    assert agg.result(agg.add(merged, None)) == [None, 1]
    latest = resolve_aggregate("LATEST_BY_OFFSET", [T.INTEGER], [])
    assert latest.merge is not None
    a, b = fold(latest, [1]), fold(latest, [3])
    assert latest.result(latest.merge(b, a)) == 3
    assert latest.result(latest.merge(latest.init(), fold(latest, [None]))) is None


def test_stddev_samp_is_variance_and_stddev_sample_is_root() -> None:
    samp = resolve_aggregate("STDDEV_SAMP", [T.INTEGER], [])
    assert results(samp, [0, 10, 7, None, 6]) == [
        0.0,
        50.0,
        26.333333333333332,
        26.333333333333332,
        17.583333333333332,
    ]
    sample = resolve_aggregate("STDDEV_SAMPLE", [T.BIGINT], [])
    out = results(sample, [2147483648, 100, -2])
    assert out == [0.0, 1518500179.2773468, 1239850233.9629574]
    assert samp.undo is not None
    acc = fold(samp, [0, 10, 7])
    assert samp.result(samp.undo(acc, 7)) == 50.0


def test_stddev_merge() -> None:
    agg = resolve_aggregate("STDDEV_SAMPLE", [T.DOUBLE], [])
    assert agg.merge is not None
    merged = agg.merge(fold(agg, [1.0, 2.0]), fold(agg, [3.0, 4.0]))
    assert math.isclose(agg.result(merged), agg.result(fold(agg, [1.0, 2.0, 3.0, 4.0])))


def test_correlation_widens_and_handles_degenerate_input() -> None:
    agg = resolve_aggregate("CORRELATION", [T.BIGINT, T.BIGINT], [])
    out = results(agg, [(1, 8), (-1, -2), (-4, -1), (None, -6)])
    assert math.isnan(out[0])
    assert out[1:] == [1.0, 0.7455284088780169, 0.7455284088780169]
    assert agg.undo is not None
    acc = agg.undo(fold(agg, [(1.5, 8.0), (-3.5, -2.0)]), (1.5, 8.0))
    assert math.isnan(agg.result(agg.add(acc, (-1.0, -2.0))))


def test_count_distinct() -> None:
    agg = resolve_aggregate("COUNT_DISTINCT", [T.STRING], [])
    assert results(agg, ["one", "two", "one", None]) == [1, 2, 2, 2]
    many = fold(agg, [f"v{i}" for i in range(5000)])
    assert abs(agg.result(many) - 5000) < 150
    assert agg.merge is not None
    merged = agg.merge(fold(agg, ["a", "b"]), fold(agg, ["b", "c"]))
    assert agg.result(merged) == 3


def test_attr() -> None:
    agg = resolve_aggregate("ATTR", [T.STRING], [])
    assert results(agg, ["1", None, "1"]) == ["1", None, None]
    assert agg.undo is not None
    acc = fold(agg, ["1", "1"])
    acc = agg.undo(agg.undo(acc, "1"), "1")
    assert agg.result(agg.add(acc, "2")) == "2"


def test_resolution_errors() -> None:
    with pytest.raises(AggregateError, match=r"Function 'MAX' does not accept parameters "):
        resolve_aggregate("MAX", [T.Array(T.INTEGER)], [])
    with pytest.raises(AggregateError, match="Parameter 2 passed to function EARLIEST_BY_OFFSET"):
        resolve_aggregate("EARLIEST_BY_OFFSET", [T.INTEGER, T.INTEGER], [])
    with pytest.raises(AggregateError, match="earliestN must be 1 or greater"):
        resolve_aggregate("LATEST_BY_OFFSET", [T.INTEGER], [0])
    with pytest.raises(AggregateError, match=r"\(STRING, STRING\)"):
        resolve_aggregate("VAR_ARG", [T.STRING, T.STRING], [])
    with pytest.raises(AggregateError, match="Can't find any functions"):
        resolve_aggregate("NO_SUCH", [T.INTEGER], [])


def test_init_arg_count_splits_literals() -> None:
    assert init_arg_count("TOPK", [T.INTEGER, T.STRING, T.INTEGER]) == 1
    assert init_arg_count("EARLIEST_BY_OFFSET", [T.INTEGER, T.INTEGER, T.BOOLEAN]) == 2
    assert init_arg_count("VAR_ARG", [T.BIGINT, T.STRING, T.STRING]) == 0
    assert init_arg_count("MULTI_ARG", [T.BIGINT, T.STRING, T.INTEGER, T.STRING]) == 2


def test_test_fixture_udafs() -> None:
    mid = resolve_aggregate("MID_VAR_ARG", [T.BIGINT, T.STRING], [7, 3])
    assert results(mid, [(6, "hi"), (None, "hello"), (5, None)]) == [18, 23, 28]
    collect = resolve_aggregate("GENERIC_VAR_ARG", [T.DOUBLE, T.INTEGER], [])
    assert results(collect, [(2.3, 1), (3.9, None), (5.7, 3)]) == [[2.3], [2.3], [2.3, 5.7]]
    struct = T.Struct((T.Field("A", T.INTEGER), T.Field("B", T.INTEGER)))
    summing = resolve_aggregate("TEST_UDAF", [struct], [])
    assert results(summing, [{"A": 1, "B": 2}, {"A": 2, "B": 3}])[-1] == {"A": 3, "B": 5}


def test_catalog() -> None:
    assert is_aggregate("count") and not is_aggregate("ABS")
    infos = {i.name: i for i in aggregate_names()}
    assert infos["TOPK"].kind == "AGGREGATE"
    assert {"AVG", "COLLECT_SET", "CORRELATION", "HISTOGRAM", "STDDEV_SAMP"} <= set(infos)
