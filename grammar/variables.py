"""Variable substitution as ksqlDB documents it: `${name}` is replaced by the value a session
DEFINEd (names are case-insensitive), and `$${name}` escapes a reference, leaving `${name}`.

A session's variables are a `SessionVariables`: the CLI keeps one for its session, a REST
request gets one of its own (its `sessionVariables` and what its DEFINEs add)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping

# An escaped reference (`$${name}`, group 1 is what stays) or a reference (group 2 its name).
_REFERENCE = re.compile(r"\$(\$\{[A-Za-z_][A-Za-z0-9_]*\})|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SessionVariables(MutableMapping[str, str]):
    """Variables by case-insensitive name; a name keeps the spelling it was first given, as
    ksqlDB's session keeps `var1` after `DEFINE VAR1 = '2'`."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._entries: dict[str, tuple[str, str]] = {}
        self.update(values or {})

    def __getitem__(self, name: str) -> str:
        return self._entries[name.upper()][1]

    def __setitem__(self, name: str, value: str) -> None:
        spelling = self._entries.get(name.upper(), (name, ""))[0]
        self._entries[name.upper()] = (spelling, value)

    def __delitem__(self, name: str) -> None:
        del self._entries[name.upper()]

    def __iter__(self) -> Iterator[str]:
        return (spelling for spelling, _ in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """`text` with each `${name}` of a defined variable replaced by its value (an undefined one
    stays as written) and each `$${name}` unescaped to `${name}`."""
    if "${" not in text:
        return text
    known = variables if isinstance(variables, SessionVariables) else SessionVariables(variables)

    def replace(match: re.Match[str]) -> str:
        escaped, name = match.groups()
        if escaped is not None:
            return escaped
        return known.get(name, match.group(0))

    return _REFERENCE.sub(replace, text)
