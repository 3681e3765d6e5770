"""Date and time functions (ksqlDB's DATE / TIME category).

Values: DATE is days since the epoch, TIME milliseconds of the day, TIMESTAMP epoch
milliseconds (UTC). The legacy functions (DATETOSTRING, STRINGTODATE, TIMESTAMPTOSTRING,
STRINGTOTIMESTAMP, UNIX_*) work on INT days / BIGINT milliseconds instead. Patterns are Java
DateTimeFormatter patterns (see java_time_format); time zones are Java zone IDs.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlengine.functions import java_time_format as jt
from sqlengine.functions.math_funcs import int64
from sqlengine.functions.registry import Overload, scalar

DATE_TIME = "DATE / TIME"
_MS_PER_DAY = 86_400_000
_NANOS_PER_MS = 1_000_000

# java.util.concurrent.TimeUnit, in nanoseconds, by singular name.
_UNIT_NANOS = {
    "NANOSECOND": 1,
    "MICROSECOND": 1_000,
    "MILLISECOND": 1_000_000,
    "SECOND": 1_000_000_000,
    "MINUTE": 60_000_000_000,
    "HOUR": 3_600_000_000_000,
    "DAY": 86_400_000_000_000,
}


def _unit_nanos(unit: str) -> int:
    name = unit.upper()
    nanos = _UNIT_NANOS.get(name[:-1] if name.endswith("S") else name)
    if nanos is None:
        raise ValueError(f"Unknown time unit {unit}")
    return nanos


def unit_to_millis(unit: str, amount: int) -> int:
    """TimeUnit.toMillis: sub-millisecond units truncate toward zero."""
    nanos = _unit_nanos(unit)
    if nanos >= _NANOS_PER_MS:
        return amount * (nanos // _NANOS_PER_MS)
    scale = _NANOS_PER_MS // nanos
    return -(-amount // scale) if amount < 0 else amount // scale


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return q if a >= 0 else -q


# ---------------------------------------------------------------------------- arithmetic


def date_add(unit: str, amount: int, days: int) -> int:
    return _trunc_div(days * _MS_PER_DAY + unit_to_millis(unit, amount), _MS_PER_DAY)


def date_sub(unit: str, amount: int, days: int) -> int:
    return date_add(unit, -amount, days)


def time_add(unit: str, amount: int, ms_of_day: int) -> int:
    """LocalTime.plus: wraps around midnight."""
    nanos = (ms_of_day * _NANOS_PER_MS + amount * _unit_nanos(unit)) % (_MS_PER_DAY * _NANOS_PER_MS)
    return nanos // _NANOS_PER_MS


def time_sub(unit: str, amount: int, ms_of_day: int) -> int:
    return time_add(unit, -amount, ms_of_day)


def timestamp_add(unit: str, amount: int, epoch_ms: int) -> int:
    return int64(epoch_ms + unit_to_millis(unit, amount))


def timestamp_sub(unit: str, amount: int, epoch_ms: int) -> int:
    return int64(epoch_ms - unit_to_millis(unit, amount))


def convert_tz(epoch_ms: int, from_zone: str, to_zone: str) -> int:
    """Shift a timestamp by the difference of two zones' offsets at that instant."""

    def offset_ms(zone_id: str) -> int:
        offset = jt.to_datetime(epoch_ms, jt.zone_of(zone_id)).utcoffset()
        return 0 if offset is None else int(offset.total_seconds() * 1000)

    return epoch_ms + offset_ms(to_zone) - offset_ms(from_zone)


# ---------------------------------------------------------------------------- formatting


def _format_timestamp(epoch_ms: int, pattern: str, zone: str = "UTC") -> str:
    return jt.format_instant(epoch_ms, pattern, jt.zone_of(zone))


def _parse_timestamp(text: str, pattern: str, zone: str = "UTC") -> int:
    return jt.parse_epoch_ms(text, pattern, jt.zone_of(zone))


def _format_date(days: int, pattern: str) -> str:
    return jt.format_value(jt.date_of(days), pattern)


def _format_time(ms_of_day: int, pattern: str) -> str:
    return jt.format_value(jt.time_of(ms_of_day), pattern)


def _now_ms() -> int:
    return time.time_ns() // _NANOS_PER_MS


def _ov(params: list[str], returns: str, impl: Callable[..., object]) -> Overload:
    return Overload(params, returns, impl)


def _register(name: str, description: str, *overloads: Overload) -> None:
    scalar(name, description, *overloads, category=DATE_TIME)


_UNIT_PARAMS = ["INTERVALUNIT", "INT"]

_register(
    "DATEADD",
    "Adds an interval of the given unit to a DATE.",
    _ov([*_UNIT_PARAMS, "DATE"], "DATE", date_add),
)
_register(
    "DATESUB",
    "Subtracts an interval of the given unit from a DATE.",
    _ov([*_UNIT_PARAMS, "DATE"], "DATE", date_sub),
)
_register(
    "TIMEADD",
    "Adds an interval of the given unit to a TIME, wrapping around midnight.",
    _ov([*_UNIT_PARAMS, "TIME"], "TIME", time_add),
)
_register(
    "TIMESUB",
    "Subtracts an interval of the given unit from a TIME, wrapping around midnight.",
    _ov([*_UNIT_PARAMS, "TIME"], "TIME", time_sub),
)
_register(
    "TIMESTAMPADD",
    "Adds an interval of the given unit to a TIMESTAMP.",
    _ov([*_UNIT_PARAMS, "TIMESTAMP"], "TIMESTAMP", timestamp_add),
)
_register(
    "TIMESTAMPSUB",
    "Subtracts an interval of the given unit from a TIMESTAMP.",
    _ov([*_UNIT_PARAMS, "TIMESTAMP"], "TIMESTAMP", timestamp_sub),
)
_register(
    "CONVERT_TZ",
    "Converts a TIMESTAMP from one time zone to another.",
    _ov(["TIMESTAMP", "STRING", "STRING"], "TIMESTAMP", convert_tz),
)
_register(
    "FROM_UNIXTIME",
    "Converts milliseconds since the epoch to a TIMESTAMP.",
    _ov(["BIGINT"], "TIMESTAMP", lambda ms: ms),
)
_register(
    "FROM_DAYS",
    "Converts days since the epoch to a DATE.",
    _ov(["INT"], "DATE", lambda days: days),
)
_register(
    "UNIX_TIMESTAMP",
    "Returns the current time, or the given TIMESTAMP, as milliseconds since the epoch.",
    _ov([], "BIGINT", _now_ms),
    _ov(["TIMESTAMP"], "BIGINT", lambda ms: ms),
)
_register(
    "UNIX_DATE",
    "Returns the current date, or the given DATE, as days since the epoch.",
    _ov([], "INT", lambda: _now_ms() // _MS_PER_DAY),
    _ov(["DATE"], "INT", lambda days: days),
)
_register(
    "DATETOSTRING",
    "Formats days since the epoch (INT) as a string with a Java date pattern.",
    _ov(["INT", "STRING"], "STRING", _format_date),
)
_register(
    "STRINGTODATE",
    "Parses a string with a Java date pattern into days since the epoch (INT).",
    _ov(["STRING", "STRING"], "INT", lambda s, p: jt.parse_epoch_days(s, p)),
)
_register(
    "TIMESTAMPTOSTRING",
    "Formats epoch milliseconds (BIGINT) as a string with a Java pattern, in UTC or the "
    "given time zone.",
    _ov(["BIGINT", "STRING"], "STRING", _format_timestamp),
    _ov(["BIGINT", "STRING", "STRING"], "STRING", _format_timestamp),
)
_register(
    "STRINGTOTIMESTAMP",
    "Parses a string with a Java pattern into epoch milliseconds (BIGINT); a zone-less "
    "text is read in UTC or the given time zone.",
    _ov(["STRING", "STRING"], "BIGINT", _parse_timestamp),
    _ov(["STRING", "STRING", "STRING"], "BIGINT", _parse_timestamp),
)
_register(
    "FORMAT_DATE",
    "Formats a DATE as a string with a Java date pattern.",
    _ov(["DATE", "STRING"], "STRING", _format_date),
)
_register(
    "FORMAT_TIME",
    "Formats a TIME as a string with a Java time pattern.",
    _ov(["TIME", "STRING"], "STRING", _format_time),
)
_register(
    "FORMAT_TIMESTAMP",
    "Formats a TIMESTAMP as a string with a Java pattern, in UTC or the given time zone.",
    _ov(["TIMESTAMP", "STRING"], "STRING", _format_timestamp),
    _ov(["TIMESTAMP", "STRING", "STRING"], "STRING", _format_timestamp),
)
_register(
    "PARSE_DATE",
    "Parses a string with a Java date pattern into a DATE.",
    # ksqlDB reads with SimpleDateFormat here: '2003-12-24-01-01' is 2003-12-24.
    _ov(["STRING", "STRING"], "DATE", lambda s, p: jt.parse_epoch_days(s, p, prefix=True)),
)
_register(
    "PARSE_TIME",
    "Parses a string with a Java time pattern into a TIME.",
    _ov(["STRING", "STRING"], "TIME", lambda s, p: jt.parse_ms_of_day(s, p)),
)
_register(
    "PARSE_TIMESTAMP",
    "Parses a string with a Java pattern into a TIMESTAMP; a zone-less text is read in UTC "
    "or the given time zone.",
    _ov(["STRING", "STRING"], "TIMESTAMP", _parse_timestamp),
    _ov(["STRING", "STRING", "STRING"], "TIMESTAMP", _parse_timestamp),
)
