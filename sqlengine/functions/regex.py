"""ksqlDB's regular-expression functions: Java regex syntax and matching run on Python's `re`.

Java patterns are translated once per distinct pattern text (cached): named groups, `\\Q..\\E`,
`\\p{..}` classes (Unicode categories, POSIX and java* classes), `\\z`/`\\Z`, `\\h`, `\\R`,
nested character classes and Java's `.` (no line terminators) are rewritten; `\\w \\d \\s \\b`
keep Java's ASCII meaning. Matches are enumerated the way java.util.regex.Matcher.find does.
Not supported (the pattern fails, so the call yields NULL): class intersections (`&&`),
Unicode scripts and blocks, inline flags after the start of the pattern.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

from sqlengine.functions.registry import Overload, scalar

# ---------------------------------------------------------------------------- \p{..} classes

_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
}
_WHITESPACE = (
    "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
# Binary properties and java.lang.Character classes, approximated by general categories.
_PROPERTY_CATEGORIES = {
    "alphabetic": "L Nl",
    "letter": "L",
    "digit": "Nd",
    "uppercase": "Lu",
    "lowercase": "Ll",
    "titlecase": "Lt",
    "punctuation": "P",
    "control": "Cc",
    "letterordigit": "L Nd",
    "javaalphabetic": "L Nl",
    "javaletter": "L",
    "javadigit": "Nd",
    "javauppercase": "Lu",
    "javalowercase": "Ll",
    "javaletterordigit": "L Nd",
    "javatitlecase": "Lt",
}


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges of every Unicode general category (computed once, on first use)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    start, current = 0, unicodedata.category("\0")
    for cp in range(1, sys.maxunicode + 2):
        cat = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else ""
        if cat != current:
            ranges.setdefault(current, []).append((start, cp - 1))
            start, current = cp, cat
    return ranges


def _ranges_text(categories: str) -> str:
    table = _category_ranges()
    parts = []
    for wanted in categories.split():
        for cat, spans in table.items():
            if cat.startswith(wanted):
                parts.extend(f"\\U{a:08x}-\\U{b:08x}" for a, b in spans)
    return "".join(parts)


def _property_class(name: str) -> str:
    """The inside of a character class for Java's \\p{name}."""
    if name in _POSIX:
        return _POSIX[name]
    key = name
    for prefix in ("Is", "gc=", "general_category=", "Gc="):
        if key.startswith(prefix):
            key = key[len(prefix) :]
            break
    if key.lower() in ("white_space", "whitespace", "javawhitespace", "javaspacechar"):
        return _WHITESPACE
    if key in _category_ranges() or (len(key) == 1 and key in "LMNPSZC"):
        return _ranges_text(key)
    if key.lower() in _PROPERTY_CATEGORIES:
        return _ranges_text(_PROPERTY_CATEGORIES[key.lower()])
    raise re.error(f"Unsupported character property: {name}")


# ---------------------------------------------------------------------------- translation

_SIMPLE_ESCAPES = {
    "z": "\\Z",
    "Z": "(?=(?:\\r\\n|[\\n\\r\\x85\\u2028\\u2029])?\\Z)",
    "h": "[ \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000]",
    "H": "[^ \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000]",
    "v": "[\\n\\x0b\\f\\r\\x85\\u2028\\u2029]",
    "V": "[^\\n\\x0b\\f\\r\\x85\\u2028\\u2029]",
    "R": "(?:\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])",
    "e": "\\x1b",
}
_IN_CLASS_ESCAPES = {"h": _SIMPLE_ESCAPES["h"][1:-1], "v": _SIMPLE_ESCAPES["v"][1:-1], "e": "\\x1b"}
_JAVA_DOT = "[^\\n\\r\\x85\\u2028\\u2029]"
_DOTALL_FLAG = re.compile(r"\(\?[a-zA-Z]*s")


def _char_escape(cp: int) -> str:
    return f"\\U{cp:08x}"


def translate(java: str) -> str:
    """Rewrite a java.util.regex pattern into an equivalent Python `re` pattern."""
    out: list[str] = []
    i, n = 0, len(java)
    depth = 0  # > 0 inside a character class; nested Java classes are flattened (union)
    dotall = bool(_DOTALL_FLAG.search(java))
    while i < n:
        c = java[i]
        if c == "\\" and i + 1 < n:
            i, text = _escape(java, i, depth > 0)
            out.append(text)
            continue
        if depth:
            if c == "[":
                depth += 1
                if java.startswith("^", i + 1):
                    raise re.error("negated nested character classes are not supported")
            elif c == "]":
                depth -= 1
                if depth == 0:
                    out.append("]")
            elif c in "&~|":
                if java.startswith("&&", i):
                    raise re.error("character class intersections are not supported")
                out.append("\\" + c)
            else:
                out.append(c)
            i += 1
            continue
        if c == "[":
            depth = 1
            out.append("[")
            i += 1
            if java.startswith("^", i):
                out.append("^")
                i += 1
            if java.startswith("]", i):  # a leading ']' is literal in Java too
                out.append("\\]")
                i += 1
            continue
        if c == "(" and java.startswith("(?<", i) and not java.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        if c == "." and not dotall:
            out.append(_JAVA_DOT)
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _escape(java: str, i: int, in_class: bool) -> tuple[int, str]:
    """Translate the escape starting at java[i] == '\\'; returns (next index, text)."""
    c = java[i + 1]
    if c == "Q":
        end = java.find("\\E", i + 2)
        literal = java[i + 2 :] if end < 0 else java[i + 2 : end]
        return (len(java) if end < 0 else end + 2), re.escape(literal)
    if c in "pP":
        if java.startswith("{", i + 2):
            close = java.index("}", i + 3)
            name, nxt = java[i + 3 : close], close + 1
        else:
            name, nxt = java[i + 2 : i + 3], i + 3
        body = _property_class(name)
        if in_class:
            if c == "P":
                raise re.error("negated \\P{..} inside a character class is not supported")
            return nxt, body
        return nxt, ("[^" if c == "P" else "[") + body + "]"
    if c == "k" and java.startswith("<", i + 2):
        close = java.index(">", i + 3)
        return close + 1, f"(?P={java[i + 3 : close]})"
    if c == "x" and java.startswith("{", i + 2):
        close = java.index("}", i + 3)
        return close + 1, _char_escape(int(java[i + 3 : close], 16))
    if c == "c" and i + 2 < len(java):
        return i + 3, _char_escape(ord(java[i + 2]) ^ 64)
    if c == "0":
        j = i + 2
        while j < len(java) and j < i + 5 and java[j] in "01234567":
            j += 1
        if j > i + 4 and int(java[i + 2 : j], 8) > 0o377:
            j -= 1
        return j, _char_escape(int(java[i + 2 : j] or "0", 8))
    table = _IN_CLASS_ESCAPES if in_class else _SIMPLE_ESCAPES
    if c in table:
        return i + 2, table[c]
    return i + 2, java[i : i + 2]


@lru_cache(maxsize=512)
def compile_java(pattern: str) -> re.Pattern[str]:
    """Compile a Java regex (cached by pattern text). Raises re.error when invalid."""
    return re.compile(translate(pattern), re.ASCII)


def java_find_all(p: re.Pattern[str], s: str) -> Iterator[re.Match[str]]:
    """Successive Matcher.find() results: after an empty match the search moves on by one."""
    pos, end = 0, len(s)
    while pos <= end:
        m = p.search(s, pos)
        if m is None:
            return
        yield m
        pos = m.end() + 1 if m.end() == m.start() else m.end()


# ---------------------------------------------------------------------------- replacement strings


@lru_cache(maxsize=512)
def _replacement(
    template: str, groups: int, names: tuple[tuple[str, int], ...]
) -> tuple[str | int, ...]:
    """Parse a Matcher.appendReplacement template into literal text and group references."""
    parts: list[str | int] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c == "\\":
            if i + 1 >= n:
                raise ValueError("character to be escaped is missing")
            literal.append(template[i + 1])
            i += 2
            continue
        if c != "$":
            literal.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("Illegal group reference: group index is missing")
        ref: int
        if template[i + 1] == "{":
            close = template.find("}", i + 2)
            name = template[i + 2 : close] if close > 0 else ""
            index = dict(names).get(name)
            if close < 0 or index is None:
                raise ValueError(f"No group with name {{{name}}}")
            ref, i = index, close + 1
        elif template[i + 1].isdigit() and template[i + 1].isascii():
            ref, i = int(template[i + 1]), i + 2
            if ref > groups:
                raise IndexError(f"No group {ref}")
            while i < n and template[i] in "0123456789" and ref * 10 + int(template[i]) <= groups:
                ref, i = ref * 10 + int(template[i]), i + 1
        else:
            raise ValueError("Illegal group reference")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(ref)
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def _expand(m: re.Match[str], parts: tuple[str | int, ...]) -> str:
    return "".join(p if isinstance(p, str) else (m.group(p) or "") for p in parts)


# ---------------------------------------------------------------------------- the functions


def _regexp_extract(pattern: str, s: str, group: int = 0) -> str | None:
    p = compile_java(pattern)
    if group > p.groups:
        return None
    m = p.search(s)
    return None if m is None else m.group(group)


def _regexp_extract_all(pattern: str, s: str, group: int = 0) -> list[str | None] | None:
    p = compile_java(pattern)
    if group > p.groups:
        return None
    return [m.group(group) for m in java_find_all(p, s)]


def _regexp_replace(s: str, pattern: str, replacement: str) -> str:
    p = compile_java(pattern)
    parts = _replacement(replacement, p.groups, tuple(p.groupindex.items()))
    out: list[str] = []
    last = 0
    for m in java_find_all(p, s):
        out.append(s[last : m.start()])
        out.append(_expand(m, parts))
        last = m.end()
    out.append(s[last:])
    return "".join(out)


def _regexp_split(s: str, pattern: str) -> list[str]:
    p = compile_java(pattern)
    if pattern and p.fullmatch("") is None:
        # Guava's Splitter.on(pattern): every piece is kept, empty ones included.
        pieces, last = [], 0
        for m in java_find_all(p, s):
            pieces.append(s[last : m.start()])
            last = m.end()
        pieces.append(s[last:])
        return pieces
    return _java_pattern_split(p, s)


def _java_pattern_split(p: re.Pattern[str], s: str) -> list[str]:
    """Pattern.split(s) with limit 0: no leading empty piece from a zero-width match at 0,
    trailing empty pieces removed."""
    pieces: list[str] = []
    index = 0
    for m in java_find_all(p, s):
        if index == 0 and m.start() == 0 and m.end() == 0:
            continue
        pieces.append(s[index : m.start()])
        index = m.end()
    if index == 0:
        return [s]
    pieces.append(s[index:])
    while pieces and pieces[-1] == "":
        pieces.pop()
    return pieces


_GROUP_DESC = "group is the capturing group number (0: the whole match)"
scalar(
    "REGEXP_EXTRACT",
    "Extracts the first substring matched by a regex pattern",
    Overload(["STRING", "STRING"], "STRING", _regexp_extract, description="pattern, input"),
    Overload(["STRING", "STRING", "INT"], "STRING", _regexp_extract, description=_GROUP_DESC),
    category="REGEX",
)
scalar(
    "REGEXP_EXTRACT_ALL",
    "Extracts all substrings matched by a regex pattern",
    Overload(["STRING", "STRING"], "ARRAY<STRING>", _regexp_extract_all, description="all"),
    Overload(
        ["STRING", "STRING", "INT"], "ARRAY<STRING>", _regexp_extract_all, description=_GROUP_DESC
    ),
    category="REGEX",
)
scalar(
    "REGEXP_REPLACE",
    "Replaces all matches of a regexp in a string with a new substring ($n refers to groups)",
    Overload(["STRING", "STRING", "STRING"], "STRING", _regexp_replace, description="str, re, new"),
    category="REGEX",
)
scalar(
    "REGEXP_SPLIT_TO_ARRAY",
    "Splits a string into an array of substrings based on a regexp",
    Overload(["STRING", "STRING"], "ARRAY<STRING>", _regexp_split, description="string, regexp"),
    category="REGEX",
)
