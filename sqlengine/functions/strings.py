"""ksqlDB's string scalar functions (and their BYTES overloads), with Java's semantics.

SQL positions are 1-based. LEN and SUBSTRING count UTF-16 code units like Java's String;
the other functions count Python code points (identical unless the text holds characters
outside the Basic Multilingual Plane).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid as _uuid

from sqlengine.functions.registry import Overload, scalar

STRING = "STRING"

# Java's String.trim() strips every char <= U+0020.
_JAVA_TRIM = "".join(chr(c) for c in range(0x21))


# ---------------------------------------------------------------------------- UTF-16 helpers


def _utf16_len(s: str) -> int:
    if s.isascii():
        return len(s)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_slice(s: str, start: int, end: int | None = None) -> str:
    """s[start:end] with start/end in UTF-16 code units (Java's String.substring)."""
    if s.isascii():
        return s[start:end]
    units = s.encode("utf-16-le", "surrogatepass")
    if len(units) // 2 == len(s):
        return s[start:end]
    stop = None if end is None else 2 * end
    return units[2 * start : stop].decode("utf-16-le", "surrogatepass")


# ---------------------------------------------------------------------------- concatenation


def _concat(*parts: str | None) -> str:
    return "".join(p for p in parts if p is not None)


def _concat_bytes(*parts: bytes | None) -> bytes:
    return b"".join(p for p in parts if p is not None)


def _require_two(parts: tuple[object, ...]) -> None:
    if len(parts) < 2:
        raise ValueError("Function Concat_WS expects at least two input arguments.")


def _concat_ws(*parts: str | None) -> str | None:
    _require_two(parts)
    sep = parts[0]
    if sep is None:
        return None
    return sep.join(p for p in parts[1:] if p is not None)


def _concat_ws_bytes(*parts: bytes | None) -> bytes | None:
    _require_two(parts)
    sep = parts[0]
    if sep is None:
        return None
    return sep.join(p for p in parts[1:] if p is not None)


scalar(
    "CONCAT",
    "Concatenate an arbitrary number of string or bytes fields together",
    Overload(["STRING..."], STRING, _concat, False, description="NULL inputs are skipped"),
    Overload(["BYTES..."], "BYTES", _concat_bytes, False, description="NULL inputs are skipped"),
    category="STRING",
)
scalar(
    "CONCAT_WS",
    "Concatenate several strings or bytes, inserting a separator passed as the first argument",
    Overload(["STRING", "STRING..."], STRING, _concat_ws, False, description="NULLs skipped"),
    Overload(["BYTES", "BYTES..."], "BYTES", _concat_ws_bytes, False, description="NULLs skipped"),
    category="STRING",
)


# ---------------------------------------------------------------------------- case and trimming


def _initcap(s: str) -> str:
    # ksqlDB capitalises each match of [^\s]+\s* in the lower-cased text, so leading
    # whitespace is dropped and \s is Java's ASCII whitespace.
    return "".join(w[0].upper() + w[1:] for w in _WORD.findall(s.lower()))


_WORD = re.compile(r"[^ \t\n\x0b\f\r]+[ \t\n\x0b\f\r]*")


def _trim(s: str) -> str:
    return s.strip(_JAVA_TRIM)


def _ltrim(s: str) -> str:
    return s.lstrip(_JAVA_TRIM)


def _rtrim(s: str) -> str:
    return s.rstrip(_JAVA_TRIM)


for _name, _desc, _impl in [
    ("LCASE", "Converts a string to lower case", str.lower),
    ("UCASE", "Converts a string to upper case", str.upper),
    ("TRIM", "Removes whitespace from the beginning and end of a string", _trim),
    ("LTRIM", "Removes whitespace from the beginning of a string", _ltrim),
    ("RTRIM", "Removes whitespace from the end of a string", _rtrim),
    ("INITCAP", "Capitalizes the first letter of each word and lower-cases the rest", _initcap),
]:
    scalar(_name, _desc, Overload([STRING], STRING, _impl, description=_desc), category="STRING")


# ---------------------------------------------------------------------------- padding


def _pad_ok(target_len: int | None, padding: str | bytes | None) -> bool:
    return target_len is not None and target_len >= 0 and bool(padding)


def _lpad(s: str, n: int, pad: str) -> str | None:
    if not _pad_ok(n, pad):
        return None
    fill = max(n - len(s), 0)
    return ((pad * (fill // len(pad) + 1))[:fill] + s)[:n]


def _rpad(s: str, n: int, pad: str) -> str | None:
    if not _pad_ok(n, pad):
        return None
    fill = max(n - len(s), 0)
    return (s + (pad * (fill // len(pad) + 1))[:fill])[:n]


_PAD_DESC = (
    "Pads the input string or bytes with the padding until the target length is reached; "
    "longer input is truncated; NULL if the padding is empty or the length negative"
)
scalar(
    "LPAD",
    "Pads the input string or bytes, from the beginning, to the target length",
    Overload([STRING, "INT", STRING], STRING, _lpad, description=_PAD_DESC),
    Overload(["BYTES", "INT", "BYTES"], "BYTES", _lpad, description=_PAD_DESC),
    category="STRING",
)
scalar(
    "RPAD",
    "Pads the input string or bytes, from the end, to the target length",
    Overload([STRING, "INT", STRING], STRING, _rpad, description=_PAD_DESC),
    Overload(["BYTES", "INT", "BYTES"], "BYTES", _rpad, description=_PAD_DESC),
    category="STRING",
)


# ---------------------------------------------------------------------------- substrings


def _start_index(length: int, pos: int) -> int:
    return max(length + pos, 0) if pos < 0 else max(min(pos - 1, length), 0)


def _substring(s: str, pos: int, length: int | None = None) -> str:
    size = _utf16_len(s)
    start = _start_index(size, pos)
    if length is None:
        return _utf16_slice(s, start)
    return _utf16_slice(s, start, max(min(start + length, size), start))


def _substring_bytes(b: bytes, pos: int, length: int | None = None) -> bytes:
    start = _start_index(len(b), pos)
    if length is None:
        return b[start:]
    return b[start : max(min(start + length, len(b)), start)]


scalar(
    "SUBSTRING",
    "Returns the portion of a string or bytes from a 1-based position, optionally of a length",
    Overload([STRING, "INT"], STRING, _substring, description="From pos to the end"),
    Overload([STRING, "INT", "INT"], STRING, _substring, description="From pos, len long"),
    Overload(["BYTES", "INT"], "BYTES", _substring_bytes, description="From pos to the end"),
    Overload(["BYTES", "INT", "INT"], "BYTES", _substring_bytes, description="From pos, len long"),
    category="STRING",
)


def _replace(s: str, old: str, new: str) -> str:
    return s.replace(old, new)


scalar(
    "REPLACE",
    "Replaces all occurrences of a substring in a string with a new substring",
    Overload([STRING, STRING, STRING], STRING, _replace, description="All occurrences"),
    category="STRING",
)


def _ordinal_index(s: str, sub: str, occurrence: int) -> int:
    """commons-lang StringUtils.ordinalIndexOf: overlapping matches, -1 when absent."""
    if occurrence <= 0:
        return -1
    if not sub:
        return 0
    index = -1
    for _ in range(occurrence):
        index = s.find(sub, index + 1)
        if index < 0:
            return -1
    return index


def _commons_substring(s: str, start: int) -> str:
    if start < 0:
        start = max(len(s) + start, 0)
    return s[start:]


def _instr(s: str | None, sub: str | None, position: int = 1, occurrence: int = 1) -> int:
    if s is None or sub is None:
        return 0
    if position is None or occurrence is None:
        raise TypeError("INSTR position and occurrence must not be NULL")
    if abs(position) > len(s):
        return 0
    if position < 0:
        rev, rev_sub, pos = s[::-1], sub[::-1], -position
        i = _ordinal_index(_commons_substring(rev, pos - 1), rev_sub, occurrence)
        return 0 if i == -1 else len(rev) - pos - i - len(sub) + 2
    i = _ordinal_index(_commons_substring(s, position - 1), sub, occurrence)
    return 0 if i == -1 else i + position


_INSTR_DESC = "Position of substring in string (1-based), 0 if absent"
scalar(
    "INSTR",
    "Returns the position of substring in the provided string",
    Overload([STRING, STRING], "INT", _instr, False, description=_INSTR_DESC),
    Overload([STRING, STRING, "INT"], "INT", _instr, False, description=_INSTR_DESC),
    Overload([STRING, STRING, "INT", "INT"], "INT", _instr, False, description=_INSTR_DESC),
    category="STRING",
)

scalar(
    "LEN",
    "Returns the length of a string (UTF-16 units) or the number of bytes in a BYTES value",
    Overload([STRING], "INT", _utf16_len, description="Length of the string"),
    Overload(["BYTES"], "INT", len, description="Number of bytes"),
    category="STRING",
)


# ---------------------------------------------------------------------------- splitting


def _split(s: str, delim: str) -> list[str]:
    if not delim:
        return list(s) if s else [""]
    return s.split(delim)


def _split_bytes(b: bytes, delim: bytes) -> list[bytes]:
    if not b:
        return [b""]
    if not delim:
        return [b[i : i + 1] for i in range(len(b))]
    return b.split(delim)


scalar(
    "SPLIT",
    "Splits a string or bytes into an array of substrings or bytes based on a delimiter",
    Overload([STRING, STRING], "ARRAY<STRING>", _split, description="Split on a literal"),
    Overload(["BYTES", "BYTES"], "ARRAY<BYTES>", _split_bytes, description="Split on bytes"),
    category="STRING",
)


def _split_to_map(s: str, entry_delim: str, kv_delim: str) -> dict[str, str] | None:
    if not entry_delim or not kv_delim or entry_delim == kv_delim:
        return None
    result: dict[str, str] = {}
    for entry in s.split(entry_delim):
        if kv_delim in entry:
            parts = entry.split(kv_delim)
            result[parts[0]] = parts[1]
    return result


scalar(
    "SPLIT_TO_MAP",
    "Splits a string into key-value pairs and creates a map from them",
    Overload([STRING, STRING, STRING], "MAP<STRING, STRING>", _split_to_map, description=""),
    category="STRING",
)


# ---------------------------------------------------------------------------- ELT / FIELD


def _elt(n: int | None, *args: str | None) -> str | None:
    if n is None or n < 1 or n > len(args):
        return None
    return args[n - 1]


def _field(s: str | None, *args: str | None) -> int:
    if s is None:
        return 0
    for i, a in enumerate(args, 1):
        if a == s:
            return i
    return 0


scalar(
    "ELT",
    "Returns the Nth element of the list of strings (1-based), NULL when out of range",
    Overload(["INT", "STRING..."], STRING, _elt, False, description="The nth string"),
    category="STRING",
)
scalar(
    "FIELD",
    "Returns the 1-based position of str in args, or 0 if not found",
    Overload([STRING, "STRING..."], "INT", _field, False, description="Position of str"),
    category="STRING",
)


# ---------------------------------------------------------------------------- CHR


_JAVA_ESCAPE = re.compile(r"\\(?:u+([0-9a-fA-F]{4})|([0-7]{1,3})|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r"}


def _unescape_java(s: str) -> str:
    """commons-lang StringEscapeUtils.unescapeJava."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return chr(int(m.group(2), 8))
        c = m.group(3)
        if c == "u":
            raise ValueError(f"Unable to parse unicode value: {s}")
        return _SIMPLE_ESCAPES.get(c, c)

    text = _JAVA_ESCAPE.sub(one, s)
    # Surrogate pairs written as two escapes become one character.
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _chr_code(code: int) -> str | None:
    return chr(code) if 0 <= code <= 0x10FFFF else None


def _chr_text(code: str) -> str | None:
    if len(code) < 6 or not code.startswith("\\u"):
        return None
    return _unescape_java(code)


scalar(
    "CHR",
    "Returns a single-character string corresponding to the input character code",
    Overload(["INT"], STRING, _chr_code, description="From a decimal code point"),
    Overload([STRING], STRING, _chr_text, description="From a UTF-16 escape such as '\\u004b'"),
    category="STRING",
)


# ---------------------------------------------------------------------------- masking

_NO_MASK = None
_DEFAULT_MASKS = ("X", "x", "n", "-")


def _mask_char(mask: str | None) -> str | None:
    if mask is None:
        return _NO_MASK
    if len(mask) != 1:
        raise ValueError(f"Invalid mask character. Must be only single character, but was '{mask}'")
    return mask


class _Masker:
    """Replaces upper-case, lower-case, digit and other characters by their mask."""

    __slots__ = ("masks", "ascii_table")

    def __init__(self, masks: tuple[str | None, str | None, str | None, str | None]) -> None:
        self.masks = masks
        self.ascii_table = {c: self._mask(chr(c)) for c in range(128)}

    def _mask(self, c: str) -> str:
        cat = unicodedata.category(c)
        kind = {"Lu": 0, "Ll": 1, "Nd": 2}.get(cat, 3)
        m = self.masks[kind]
        return c if m is None else m

    def __call__(self, s: str) -> str:
        if s.isascii():
            return s.translate(self.ascii_table)
        return "".join(self._mask(c) for c in s)


_DEFAULT_MASKER = _Masker(_DEFAULT_MASKS)


def _masker(custom: tuple[str | None, ...]) -> _Masker:
    if not custom:
        return _DEFAULT_MASKER
    u, lo, d, o = (_mask_char(m) for m in custom)
    return _Masker((u, lo, d, o))


def _check_count(name: str, n: int | None) -> int:
    if n is None:
        raise TypeError(f"function {name} requires a number of characters")
    if n < 0:
        raise ValueError(
            f"function {name} requires a non-negative number of characters to mask or skip"
        )
    return n


def _mask(s: str | None, *custom: str | None) -> str | None:
    masker = _masker(custom)
    return None if s is None else masker(s)


def _mask_left(s: str | None, n: int | None, *custom: str | None) -> str | None:
    n = _check_count("mask_left", n)
    masker = _masker(custom)
    return None if s is None else masker(s[:n]) + s[n:]


def _mask_right(s: str | None, n: int | None, *custom: str | None) -> str | None:
    n = _check_count("mask_right", n)
    masker = _masker(custom)
    if s is None:
        return None
    cut = max(len(s) - n, 0)
    return s[:cut] + masker(s[cut:])


def _mask_keep_left(s: str | None, n: int | None, *custom: str | None) -> str | None:
    n = _check_count("mask_keep_left", n)
    masker = _masker(custom)
    return None if s is None else s[:n] + masker(s[n:])


def _mask_keep_right(s: str | None, n: int | None, *custom: str | None) -> str | None:
    n = _check_count("mask_keep_right", n)
    masker = _masker(custom)
    if s is None:
        return None
    cut = max(len(s) - n, 0)
    return masker(s[:cut]) + s[cut:]


_MASK_CHARS = [STRING, STRING, STRING, STRING]
scalar(
    "MASK",
    "Masks upper-case (X), lower-case (x), digit (n) and other (-) characters of a string",
    Overload([STRING], STRING, _mask, False, description="Default masks"),
    Overload([STRING, *_MASK_CHARS], STRING, _mask, False, description="Given masks"),
    category="STRING",
)
for _name, _impl, _desc in [
    ("MASK_LEFT", _mask_left, "Masks the first n characters of a string"),
    ("MASK_RIGHT", _mask_right, "Masks the last n characters of a string"),
    ("MASK_KEEP_LEFT", _mask_keep_left, "Masks all but the first n characters of a string"),
    ("MASK_KEEP_RIGHT", _mask_keep_right, "Masks all but the last n characters of a string"),
]:
    scalar(
        _name,
        _desc,
        Overload([STRING, "INT"], STRING, _impl, False, description="Default masks"),
        Overload([STRING, "INT", *_MASK_CHARS], STRING, _impl, False, description="Given masks"),
        category="STRING",
    )


# ---------------------------------------------------------------------------- UUID, MD5


def _uuid_random() -> str:
    return str(_uuid.uuid4())


def _uuid_from_bytes(b: bytes) -> str | None:
    return str(_uuid.UUID(bytes=b)) if len(b) == 16 else None


def _md5(s: str) -> str:
    return hashlib.md5(s.encode("utf-8", "replace")).hexdigest()


scalar(
    "UUID",
    "Creates a Universally Unique Identifier (UUID) according to RFC 4122",
    Overload([], STRING, _uuid_random, description="A random (version 4) UUID"),
    Overload(["BYTES"], STRING, _uuid_from_bytes, description="The UUID of 16 bytes"),
    category="STRING",
)
scalar(
    "MD5",
    "Computes the hex-encoded md5 hash of the given string",
    Overload([STRING], STRING, _md5, description="Hex-encoded MD5 of the UTF-8 bytes"),
    category="STRING",
)
