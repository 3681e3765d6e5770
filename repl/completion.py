"""Tab completion: keywords, functions, and the live catalog — streams, tables, their columns,
topics and query ids — fetched through the session's client whenever a statement may have
changed them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from repl.client import ConnectionLost, StatementFailed
from repl.lexer import CLI_COMMANDS, KEYWORDS, tokens
from repl.session import Session

# After these words a source name is what comes next.
_SOURCE_CONTEXT = {"FROM", "JOIN", "DESCRIBE", "INTO", "EXTENDED", "TABLE", "STREAM"}


@dataclass
class Catalog:
    sources: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)


class CatalogCompleter(Completer):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.catalog = Catalog()
        self.version = -1

    def refresh(self) -> None:
        if self.version == self.session.catalog_version:
            return
        try:
            self.catalog = self._fetch()
        except (ConnectionLost, StatementFailed):
            return  # keep what we had; try again on the next completion
        self.version = self.session.catalog_version

    def _fetch(self) -> Catalog:
        client, properties = self.session.client, self.session.properties
        catalog = Catalog()
        for entity in client.execute("SHOW STREAMS; SHOW TABLES;", properties):
            catalog.sources += [s["name"] for s in entity.get("streams", entity.get("tables", []))]
        for name in catalog.sources:
            for entity in client.execute(f"DESCRIBE `{name}`;", properties):
                catalog.columns += [f["name"] for f in entity["sourceDescription"]["fields"]]
        for entity in client.execute("SHOW TOPICS; SHOW QUERIES; SHOW FUNCTIONS;", properties):
            catalog.topics += [t["name"] for t in entity.get("topics", [])]
            catalog.queries += [q["id"] for q in entity.get("queries", [])]
            catalog.functions += [f["name"] for f in entity.get("functions", [])]
        catalog.columns = sorted(set(catalog.columns))
        return catalog

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        before = document.text_before_cursor
        words = [t.text.upper() for t in tokens(before) if t.kind == "word"]
        current = document.get_word_before_cursor(WORD=True).lstrip("'`(,")
        previous = (
            words[-2]
            if current and len(words) > 1
            else (words[-1] if words and not current else "")
        )
        self.refresh()
        for candidate in self._candidates(previous, not words or (len(words) == 1 and current)):
            if (
                candidate.upper().startswith(current.upper())
                and candidate.upper() != current.upper()
            ):
                yield Completion(candidate, start_position=-len(current))

    def _candidates(self, previous: str, first_word: bool) -> Iterable[str]:
        c = self.catalog
        if previous == "PRINT":
            return c.topics
        if previous in ("TERMINATE", "EXPLAIN"):
            return [*c.queries, "ALL"]
        if previous in _SOURCE_CONTEXT:
            return c.sources
        if first_word:
            return sorted({*KEYWORDS, *CLI_COMMANDS})
        return [*c.columns, *c.sources, *(f"{f}(" for f in c.functions), *sorted(KEYWORDS)]
