"""Java `DateTimeFormatter` patterns ('yyyy-MM-dd''T''HH:mm:ss.SSSX', ...) for Python.

ksqlDB's date/time functions take Java pattern strings. A pattern is compiled once (cached) into
a list of tokens used both to format Python datetime/date/time values and to parse text with a
case-insensitive regex (ksqlDB builds its parsers with `parseCaseInsensitive`). Parsing fills
missing fields with ksqlDB's defaults (1970-01-01T00:00). Time zones are given by ID
('America/Los_Angeles', 'UTC', '+02:00', 'GMT+2') as `java.time.ZoneId.of` accepts them.
Errors raise ValueError (the calling function then yields NULL, like ksqlDB).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Zone names Java's 'z' parser understands beyond region IDs (its short display names).
_ZONE_ABBREVIATIONS = {
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "PT": "America/Los_Angeles",
    "MST": "America/Denver",
    "MDT": "America/Denver",
    "CST": "America/Chicago",
    "CDT": "America/Chicago",
    "EST": "America/New_York",
    "EDT": "America/New_York",
    "AKST": "America/Anchorage",
    "AKDT": "America/Anchorage",
    "HST": "Pacific/Honolulu",
    "BST": "Europe/London",
    "CET": "CET",
    "CEST": "CET",
    "EET": "EET",
    "EEST": "EET",
    "WET": "WET",
    "WEST": "WET",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney",
}

_DATE_LETTERS = frozenset("GuyYDMLdQqwWEecF")
_TIME_LETTERS = frozenset("aHkKhmsSAnN")
_ZONE_LETTERS = frozenset("VzOXxZ")
_KNOWN_LETTERS = _DATE_LETTERS | _TIME_LETTERS | _ZONE_LETTERS


# ---------------------------------------------------------------------------- zones


def _fixed_zone(sign: int, hours: int, minutes: int = 0, seconds: int = 0) -> dt.tzinfo:
    if hours > 18 or minutes > 59 or seconds > 59:
        raise ValueError("zone offset out of range")
    total = sign * (hours * 3600 + minutes * 60 + seconds)
    if total == 0:
        return UTC
    return dt.timezone(dt.timedelta(seconds=total), _offset_id(total))


def _offset_id(total_seconds: int) -> str:
    sign = "-" if total_seconds < 0 else "+"
    h, rest = divmod(abs(total_seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?")


def _parse_offset(text: str) -> dt.tzinfo:
    m = _OFFSET.fullmatch(text)
    if not m:
        raise ValueError(f"Invalid ID for ZoneOffset: {text}")
    sign = -1 if m.group(1) == "-" else 1
    return _fixed_zone(sign, int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0))


@lru_cache(maxsize=512)
def zone_of(zone_id: str) -> dt.tzinfo:
    """The zone `java.time.ZoneId.of(zone_id)` denotes (ValueError when unknown)."""
    text = zone_id.strip()
    if text in ("Z", "UTC", "GMT", "UT"):
        return UTC
    if text[:1] in "+-":
        return _parse_offset(text)
    for prefix in ("UTC", "GMT", "UT"):
        if text.startswith(prefix) and text[len(prefix) : len(prefix) + 1] in ("+", "-"):
            return _parse_offset(text[len(prefix) :])
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValueError(f"Unknown time-zone ID: {zone_id}") from e


def _zone_from_text(text: str) -> dt.tzinfo:
    """A zone as the 'z'/'V' parsers accept it: an ID or a short display name."""
    upper = text.upper()
    if upper in _ZONE_ABBREVIATIONS:
        return zone_of(_ZONE_ABBREVIATIONS[upper])
    if upper in ("Z", "UTC", "GMT", "UT"):
        return UTC
    return zone_of(text)


# ---------------------------------------------------------------------------- patterns


@dataclass(frozen=True)
class _Token:
    letter: str  # pattern letter, '' for a literal, '[' / ']' for optional sections
    count: int = 0
    text: str = ""


@lru_cache(maxsize=256)
def _tokens(pattern: str) -> tuple[_Token, ...]:
    out: list[_Token] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if i + 1 < n and pattern[i + 1] == "'":
                out.append(_Token("", text="'"))
                i += 2
                continue
            end = i + 1
            chunk = []
            while True:
                if end >= n:
                    raise ValueError(f"Pattern ends with an incomplete string literal: {pattern}")
                if pattern[end] == "'":
                    if end + 1 < n and pattern[end + 1] == "'":
                        chunk.append("'")
                        end += 2
                        continue
                    break
                chunk.append(pattern[end])
                end += 1
            out.append(_Token("", text="".join(chunk)))
            i = end + 1
        elif c.isascii() and c.isalpha():
            j = i
            while j < n and pattern[j] == c:
                j += 1
            if c not in _KNOWN_LETTERS:
                raise ValueError(f"Unknown pattern letter: {c}")
            out.append(_Token(c, j - i))
            i = j
        elif c in "[]":
            out.append(_Token(c))
            i += 1
        elif c in "{}#":
            raise ValueError(f"Pattern includes reserved character: '{c}'")
        else:
            out.append(_Token("", text=c))
            i += 1
    return tuple(out)


# ---------------------------------------------------------------------------- formatting


def _pad(value: int, width: int) -> str:
    text = str(abs(value)).rjust(width, "0")
    return ("-" if value < 0 else "") + text


def _week_fields(d: dt.date) -> tuple[int, int]:
    """(week-based year, week of that year) under the en_US rules (Sunday start, 1 min day)."""
    start = d - dt.timedelta(days=(d.weekday() + 1) % 7)
    year = (start + dt.timedelta(days=6)).year
    jan1 = dt.date(year, 1, 1)
    first = jan1 - dt.timedelta(days=(jan1.weekday() + 1) % 7)
    return year, (start - first).days // 7 + 1


def _offset_text(seconds: int, letter: str, count: int) -> str:
    if letter in "XZ" and seconds == 0 and (letter == "X" or count == 5):
        return "Z"
    if letter == "Z" and count == 4 or letter == "O":
        if seconds == 0:
            return "GMT"
        sign = "-" if seconds < 0 else "+"
        h, rest = divmod(abs(seconds), 3600)
        m, s = divmod(rest, 60)
        if letter == "O" and count == 1:
            return f"GMT{sign}{h}" + (f":{m:02d}" if m or s else "") + (f":{s:02d}" if s else "")
        return f"GMT{sign}{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")
    sign = "-" if seconds < 0 else "+"
    h, rest = divmod(abs(seconds), 3600)
    m, s = divmod(rest, 60)
    if letter == "Z":
        count = 2 if count <= 3 else 3
    if count == 1:
        return f"{sign}{h:02d}" + (f"{m:02d}" if m else "")
    sep = ":" if count in (3, 5) else ""
    text = f"{sign}{h:02d}{sep}{m:02d}"
    if count >= 4 and s:
        text += f"{sep}{s:02d}"
    return text


def _zone_name(value: dt.datetime, count: int) -> str:
    tz = value.tzinfo
    if tz is UTC:
        return "UTC" if count < 4 else "Coordinated Universal Time"
    name = value.tzname() or ""
    if isinstance(tz, dt.timezone):
        return name
    return name if count < 4 else str(getattr(tz, "key", name))


def _format_field(value: dt.date | dt.time | dt.datetime, tok: _Token) -> str:
    c, n = tok.letter, tok.count
    has_date = isinstance(value, dt.date)
    has_time = isinstance(value, (dt.time, dt.datetime))
    if (c in _DATE_LETTERS and not has_date) or (c in _TIME_LETTERS and not has_time):
        raise ValueError(f"Unsupported field for pattern letter {c}")
    if c in _ZONE_LETTERS and getattr(value, "tzinfo", None) is None:
        raise ValueError(f"Unable to extract ZoneId for pattern letter {c}")
    if c in "yu":
        year = value.year  # type: ignore[union-attr]
        return _pad(year % 100, 2) if n == 2 else _pad(year, n)
    if c == "Y":
        year = _week_fields(value)[0]  # type: ignore[arg-type]
        return _pad(year % 100, 2) if n == 2 else _pad(year, n)
    if c == "w":
        return _pad(_week_fields(value)[1], n)  # type: ignore[arg-type]
    if c == "G":
        return {4: "Anno Domini", 5: "A"}.get(n, "AD")
    if c in "ML":
        month = value.month  # type: ignore[union-attr]
        if n <= 2:
            return _pad(month, n)
        name = _MONTHS[month - 1]
        return {3: name[:3], 4: name}.get(n, name[0])
    if c == "d":
        return _pad(value.day, n)  # type: ignore[union-attr]
    if c == "D":
        return _pad(value.timetuple().tm_yday, n)  # type: ignore[union-attr]
    if c in "Qq":
        quarter = (value.month - 1) // 3 + 1  # type: ignore[union-attr]
        ordinal = ["1st", "2nd", "3rd", "4th"][quarter - 1]
        return {3: f"Q{quarter}", 4: f"{ordinal} quarter"}.get(n, _pad(quarter, n))
    if c in "Eec":
        weekday = value.weekday()  # type: ignore[union-attr]
        if c != "E" and n <= 2:
            return _pad((weekday + 1) % 7 + 1, n)
        name = _DAYS[weekday]
        return {4: name, 5: name[0]}.get(n, name[:3])
    if c == "W":
        d = value  # type: ignore[assignment]
        first = dt.date(d.year, d.month, 1)  # type: ignore[union-attr]
        return _pad((d.day + (first.weekday() + 1) % 7 - 1) // 7 + 1, n)  # type: ignore[union-attr]
    if c == "F":
        return _pad((value.day - 1) // 7 + 1, n)  # type: ignore[union-attr]
    hour = value.hour  # type: ignore[union-attr]
    nanos = value.microsecond * 1000  # type: ignore[union-attr]
    if c == "a":
        return "AM" if hour < 12 else "PM"
    if c == "H":
        return _pad(hour, n)
    if c == "k":
        return _pad(hour or 24, n)
    if c == "K":
        return _pad(hour % 12, n)
    if c == "h":
        return _pad(hour % 12 or 12, n)
    if c == "m":
        return _pad(value.minute, n)  # type: ignore[union-attr]
    if c == "s":
        return _pad(value.second, n)  # type: ignore[union-attr]
    if c == "S":
        return f"{nanos:09d}"[:n].ljust(n, "0")
    day_nanos = ((hour * 60 + value.minute) * 60 + value.second) * 10**9 + nanos  # type: ignore[union-attr]
    if c == "n":
        return _pad(nanos, n)
    if c == "N":
        return _pad(day_nanos, n)
    if c == "A":
        return _pad(day_nanos // 1_000_000, n)
    assert isinstance(value, dt.datetime)
    if c == "V":
        tz = value.tzinfo
        return str(getattr(tz, "key", None) or ("Z" if tz is UTC else value.tzname()))
    if c == "z":
        return _zone_name(value, n)
    offset = value.utcoffset()
    return _offset_text(int(offset.total_seconds()) if offset else 0, c, n)


def format_value(value: dt.date | dt.time | dt.datetime, pattern: str) -> str:
    """Format a date, time or zoned datetime with a Java pattern."""
    parts = []
    for tok in _tokens(pattern):
        if tok.letter in ("[", "]"):
            continue
        parts.append(tok.text if tok.letter == "" else _format_field(value, tok))
    return "".join(parts)


def format_instant(epoch_ms: int, pattern: str, zone: dt.tzinfo = UTC) -> str:
    return format_value(to_datetime(epoch_ms, zone), pattern)


def to_datetime(epoch_ms: int, zone: dt.tzinfo = UTC) -> dt.datetime:
    return (_EPOCH + dt.timedelta(milliseconds=epoch_ms)).astimezone(zone)


def date_of(epoch_days: int) -> dt.date:
    return _EPOCH_DATE + dt.timedelta(days=epoch_days)


def time_of(ms_of_day: int) -> dt.time:
    seconds, ms = divmod(ms_of_day, 1000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return dt.time(h, m, s, ms * 1000)


# ---------------------------------------------------------------------------- parsing


_NAMES_RE = {
    "month": "|".join(sorted(_MONTHS + [m[:3] for m in _MONTHS], key=len, reverse=True)),
    "day": "|".join(sorted(_DAYS + [d[:3] for d in _DAYS], key=len, reverse=True)),
}
_ZONE_TEXT_RE = r"[A-Za-z][A-Za-z0-9_/+\-]*"
_OFFSET_RE = r"[+-]\d{2}(?::?\d{2})?(?::?\d{2})?"


def _digits(low: int, high: int | None = None) -> str:
    """A capturing group of `low` (to `high`) digits."""
    return rf"(\d{{{low}}})" if high is None else rf"(\d{{{low},{high}}})"


def _field_regex(tok: _Token) -> str:
    c, n = tok.letter, tok.count
    if c in "yuY":
        return _digits(2) if n == 2 else "([+-]?" + _digits(max(n, 1), 19)[1:]
    if c in "ML" and n >= 3:
        return f"({_NAMES_RE['month']})"
    if c == "E" or (c in "ec" and n >= 3):
        return f"({_NAMES_RE['day']})"
    if c == "a":
        return "(AM|PM)"
    if c == "G":
        return "(AD|BC|Anno Domini|Before Christ|A|B)"
    if c in "Qq" and n >= 3:
        return r"(Q[1-4]|[1-4](?:st|nd|rd|th) quarter)"
    if c == "S":
        return _digits(n)
    if c in "nNA":
        return _digits(n, 19)
    if c in "zV":
        return f"({_ZONE_TEXT_RE})"
    if c == "O":
        return r"(GMT(?:[+-]\d{1,2}(?::\d{2}(?::\d{2})?)?)?)"
    if c == "X" or (c == "Z" and n == 5):
        return f"(Z|{_OFFSET_RE})"
    if c in "xZ":
        gmt = r"GMT(?:[+-]\d{1,2}(?::\d{2})?)?"
        return f"({gmt}|{_OFFSET_RE})" if n == 4 else f"({_OFFSET_RE})"
    return _digits(1, 2) if n == 1 else _digits(n)


@lru_cache(maxsize=256)
def _parser(pattern: str) -> tuple[re.Pattern[str], tuple[_Token, ...]]:
    parts: list[str] = []
    fields: list[_Token] = []
    for tok in _tokens(pattern):
        if tok.letter == "":
            parts.append(re.escape(tok.text))
        elif tok.letter == "[":
            parts.append("(?:")
        elif tok.letter == "]":
            parts.append(")?")
        else:
            parts.append(_field_regex(tok))
            fields.append(tok)
    return re.compile("".join(parts), re.IGNORECASE), tuple(fields)


@dataclass
class Parsed:
    """Fields read from a text; None where the pattern has no such field."""

    year: int | None = None
    month: int | None = None
    day: int | None = None
    day_of_year: int | None = None
    hour: int | None = None
    hour12: int | None = None
    pm: bool | None = None
    minute: int = 0
    second: int = 0
    nanos: int = 0
    zone: dt.tzinfo | None = None

    def date(self) -> dt.date:
        year = 1970 if self.year is None else self.year
        if self.day_of_year is not None and self.month is None:
            return dt.date(year, 1, 1) + dt.timedelta(days=self.day_of_year - 1)
        month = self.month or 1
        day = self.day or 1
        if not 1 <= month <= 12 or not 1 <= day <= 31:
            raise ValueError("date field out of range")
        last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
        return dt.date(year, month, min(day, last))  # SMART resolution clamps the day

    def ms_of_day(self) -> int:
        hour = self.hour
        if hour is None:
            hour = 0 if self.hour12 is None else self.hour12 % 12 + (12 if self.pm else 0)
        elif self.pm is not None and hour < 12 and self.pm:
            hour += 12
        if not (0 <= hour <= 23 and 0 <= self.minute <= 59 and 0 <= self.second <= 59):
            raise ValueError("time field out of range")
        return ((hour * 60 + self.minute) * 60 + self.second) * 1000 + self.nanos // 1_000_000


def _assign(p: Parsed, tok: _Token, text: str) -> None:
    c, n = tok.letter, tok.count
    if c in "yuY":
        p.year = 2000 + int(text) if n == 2 else int(text)
    elif c in "ML":
        p.month = int(text) if n <= 2 else _month_number(text)
    elif c == "d":
        p.day = int(text)
    elif c == "D":
        p.day_of_year = int(text)
    elif c == "a":
        p.pm = text.upper() == "PM"
    elif c == "H":
        p.hour = int(text)
    elif c == "k":
        p.hour = int(text) % 24
    elif c in "hK":
        p.hour12 = int(text)
    elif c == "m":
        p.minute = int(text)
    elif c == "s":
        p.second = int(text)
    elif c == "S":
        p.nanos = int(text.ljust(9, "0")[:9])
    elif c == "n":
        p.nanos = int(text)
    elif c in "zV":
        p.zone = _zone_from_text(text)
    elif c in "OXxZ":
        upper = text.upper()
        if upper in ("Z", "GMT"):
            p.zone = UTC
        else:
            p.zone = _parse_offset(upper[3:] if upper.startswith("GMT") else upper)
    elif c == "A":
        ms = int(text)
        p.hour, rest = divmod(ms, 3_600_000)
        p.minute, rest = divmod(rest, 60_000)
        p.second, millis = divmod(rest, 1000)
        p.nanos = millis * 1_000_000


def _month_number(text: str) -> int:
    lowered = text.lower()
    for i, name in enumerate(_MONTHS):
        if lowered in (name.lower(), name[:3].lower()):
            return i + 1
    raise ValueError(f"unknown month {text}")


def parse(text: str, pattern: str, *, prefix: bool = False) -> Parsed:
    """`text` read with a Java pattern; `prefix`: as SimpleDateFormat.parse, from the start,
    any text after the pattern's last field ignored."""
    regex, fields = _parser(pattern)
    m = regex.match(text) if prefix else regex.fullmatch(text)
    if m is None:
        raise ValueError(f"Text '{text}' could not be parsed with pattern '{pattern}'")
    p = Parsed()
    for tok, group in zip(fields, m.groups(), strict=True):
        if group is not None:
            _assign(p, tok, group)
    return p


def parse_epoch_ms(text: str, pattern: str, zone: dt.tzinfo = UTC) -> int:
    """Parse a timestamp; a zone in the text wins over `zone`."""
    p = parse(text, pattern)
    local = dt.datetime.combine(p.date(), dt.time()) + dt.timedelta(milliseconds=p.ms_of_day())
    aware = local.replace(tzinfo=p.zone or zone)
    delta = aware - _EPOCH
    return delta.days * _MS_PER_DAY + delta.seconds * 1000 + delta.microseconds // 1000


def parse_epoch_days(text: str, pattern: str, *, prefix: bool = False) -> int:
    return (parse(text, pattern, prefix=prefix).date() - _EPOCH_DATE).days


def parse_ms_of_day(text: str, pattern: str) -> int:
    return parse(text, pattern).ms_of_day()
