"""Results as ksqlDB's CLI prints them, from ksqlDB's REST shapes: statement entities as
boxed tables or `Name : value` blocks, query rows in a bordered table, errors with the
statement and the position they point at. Pure functions: text in, lines out."""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from collections.abc import Callable
from typing import Any

DESCRIBE_HINT = "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;"
FUNCTIONS_HINT = "For detailed information on a function run: DESCRIBE FUNCTION <Function Name>;"
EXPLAIN_HINT = "For query topology and execution plan please run: EXPLAIN <QueryId>"
_BREAKS = re.compile(r"\s*\n\s*")
_POSITION = re.compile(r"^line (\d+):(\d+):", re.M)


def boxed(headers: list[str], rows: list[list[str]]) -> list[str]:
    """ksqlDB's CLI table: ` A | B ` header, a rule, the rows, a rule. A cell's line breaks
    (a multi-line query's text) become spaces, so each row stays on one line."""
    rows = [[_BREAKS.sub(" ", c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "|".join(f" {c.ljust(w)} " for c, w in zip(cells, widths, strict=True))

    rule = "-" * len(line(headers))
    return [line(headers), rule, *map(line, rows), rule]


def labelled(pairs: list[tuple[str, str]], width: int = 20) -> list[str]:
    """`Name                 : value` lines, as DESCRIBE and EXPLAIN print them."""
    return [f"{label.ljust(width)} : {value}" for label, value in pairs]


def cell(value: Any) -> str:
    """A JSON value as a table cell: strings bare, null as `null`, containers as JSON."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def type_text(schema: dict[str, Any]) -> str:
    """A REST schema as ksqlDB's CLI prints a column's type, e.g. VARCHAR(STRING)."""
    kind = schema.get("type", "")
    if kind == "STRING":
        return "VARCHAR(STRING)"
    if kind == "ARRAY":
        return f"ARRAY<{type_text(schema['memberSchema'])}>"
    if kind == "MAP":
        return f"MAP<STRING, {type_text(schema['memberSchema'])}>"
    if kind == "STRUCT":
        fields = ", ".join(f"{f['name']} {type_text(f['schema'])}" for f in schema["fields"] or [])
        return f"STRUCT<{fields}>"
    if kind == "DECIMAL" and schema.get("parameters"):
        return f"DECIMAL({schema['parameters']['precision']}, {schema['parameters']['scale']})"
    return str(kind)


# ---------------------------------------------------------------------------- entities


def entity_lines(entity: dict[str, Any]) -> list[str]:
    """One /ksql entity as the CLI prints it in TABULAR mode."""
    render = _RENDERERS.get(entity.get("@type", ""))
    if render is None:
        return json.dumps(entity, indent=2).splitlines()
    return render(entity)


def _status(e: dict[str, Any]) -> list[str]:
    message = e["commandStatus"].get("message", "")
    return boxed(["Message"], [[message]]) if message else []


def _sources(e: dict[str, Any]) -> list[str]:
    key = e["@type"]
    title = "Stream Name" if key == "streams" else "Table Name"
    rows = [
        [s["name"], s["topic"], s["keyFormat"], s["valueFormat"], cell(s["isWindowed"])]
        for s in e[key]
    ]
    return boxed([title, "Kafka Topic", "Key Format", "Value Format", "Windowed"], rows)


def _queries(e: dict[str, Any]) -> list[str]:
    rows = [
        [
            q["id"],
            q.get("queryType", "PERSISTENT"),
            ",".join(f"{state}:{n}" for state, n in q.get("statusCount", {}).items()),
            ",".join(q["sinks"]),
            ",".join(q.get("sinkKafkaTopics", [])),
            q["queryString"],
        ]
        for q in e["queries"]
    ]
    headers = ["Query ID", "Query Type", "Status", "Sink Name", "Sink Kafka Topic", "Query String"]
    return [*boxed(headers, rows), EXPLAIN_HINT]


def _field_rows(fields: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for f in fields:
        kind = f.get("type")
        suffix = f"  ({kind.lower()})" if kind else ""
        rows.append([f["name"], type_text(f["schema"]) + suffix])
    return rows


def _description(e: dict[str, Any]) -> list[str]:
    return _source_lines(e["sourceDescription"])


def _descriptions(e: dict[str, Any]) -> list[str]:
    """DESCRIBE STREAMS / DESCRIBE TABLES: each source as DESCRIBE prints it."""
    return [line for d in e["sourceDescriptions"] for line in _source_lines(d)]


def _source_lines(d: dict[str, Any]) -> list[str]:
    fields = boxed(["Field", "Type"], _field_rows(d["fields"]))
    if not d.get("extended"):
        return ["", *labelled([("Name", d["name"])]), *fields, DESCRIBE_HINT]
    info = labelled(
        [
            ("Name", d["name"]),
            ("Type", d["type"]),
            ("Timestamp field", d.get("timestamp") or "Not set - using <ROWTIME>"),
            ("Key format", d["keyFormat"]),
            ("Value format", d["valueFormat"]),
            ("Kafka topic", f"{d['topic']} (partitions: {d['partitions']}, replication: 1)"),
            ("Statement", d.get("statement", "")),
        ]
    )
    lines = ["", *info, "", *fields]
    for verb, refs in (("read from", d["readQueries"]), ("write into", d["writeQueries"])):
        if refs:
            title = f"Queries that {verb} this {d['type']}"
            lines += ["", title, "-" * len(title)]
            lines += [
                f"{q['id']} ({q.get('state', 'RUNNING')})"
                + (f" : {q['queryString']}" if q["queryString"] else "")
                for q in refs
            ]
    lines += [
        "",
        *_runtime_statistics(d),
        f"(Statistics of the local KSQL server interaction with the Kafka topic {d['topic']})",
    ]
    return [*lines, "", EXPLAIN_HINT, ""]


def _runtime_statistics(d: dict[str, Any]) -> list[str]:
    """ksqlDB's CLI: each host's metrics as a table when the server sends them per host,
    else the one-line local statistics."""
    per_host = [*d.get("clusterStatistics", []), *d.get("clusterErrorStats", [])]
    if not per_host:
        statistics = [text for text in (d.get("statistics"), d.get("errorStats")) if text]
        return ["Local runtime statistics", "------------------------", *statistics]
    rows = [
        [s["host"], s["name"], f"{s['value']:10.0f}", _stat_time(s["timestamp"])]
        for s in sorted(per_host, key=lambda s: (s["host"], s["name"]))
    ]
    table = boxed(["Host", "Metric", "Value", "Last Message"], rows)
    return ["Runtime statistics by host", "-------------------------", *table]


def _stat_time(epoch_ms: int) -> str:
    """A metric's last event as ksqlDB prints it (ISO-8601 in UTC), n/a for none."""
    if not epoch_ms:
        return "n/a"
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    fraction = f".{epoch_ms % 1000:03d}" if epoch_ms % 1000 else ""
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}{fraction}Z"


def _topics(e: dict[str, Any]) -> list[str]:
    """SHOW TOPICS, and SHOW TOPICS EXTENDED with each topic's consumers and groups."""
    extended = e["@type"] == "kafka_topics_extended"
    rows = [
        [t["name"], str(len(t["replicaInfo"])), " ".join(map(str, t["replicaInfo"]))]
        + ([str(t["consumerCount"]), str(t["consumerGroupCount"])] if extended else [])
        for t in e["topics"]
    ]
    headers = ["Kafka Topic", "Partitions", "Partition Replicas"]
    return boxed(headers + (["Consumers", "ConsumerGroups"] if extended else []), rows)


def _properties(e: dict[str, Any]) -> list[str]:
    """Each property's value and where it comes from: SET in this session, the server's
    configuration (SERVER), or the default (blank)."""
    overwritten = set(e.get("overwrittenProperties", []))
    defaults = set(e.get("defaultProperties", []))

    def source(name: str) -> str:
        if name in overwritten:
            return "SESSION"
        return "" if name in defaults else "SERVER"

    rows = [[p["name"], p["scope"], source(p["name"]), p["value"]] for p in e["properties"]]
    return boxed(["Property", "Scope", "Default override", "Effective Value"], rows)


def _functions(e: dict[str, Any]) -> list[str]:
    rows = [[f["name"], f["category"]] for f in sorted(e["functions"], key=lambda f: f["name"])]
    return [*boxed(["Function Name", "Category"], rows), FUNCTIONS_HINT]


def _function(e: dict[str, Any]) -> list[str]:
    width = 11
    lines = labelled(
        [
            ("Name", e["name"]),
            ("Author", e.get("author", "")),
            *([("Version", e["version"])] if e.get("version") else []),
            ("Overview", e.get("description", "")),
            ("Type", e.get("type", "")),
            ("Jar", e.get("path", "")),
            ("Variations", ""),
        ],
        width,
    )
    for variation in e["functions"]:
        arguments = ", ".join(a["type"] for a in variation["arguments"])
        lines += [
            "",
            *(
                "\t" + text
                for text in labelled(
                    [
                        ("Variation", f"{e['name']}({arguments})"),
                        ("Returns", variation["returnType"]),
                        ("Description", variation["description"]),
                    ],
                    width,
                )
            ),
        ]
    return lines


def _types(e: dict[str, Any]) -> list[str]:
    return boxed(["Type Name", "Schema"], [[n, t["type"]] for n, t in e["types"].items()])


def _variables(e: dict[str, Any]) -> list[str]:
    return boxed(["Variable Name", "Value"], [[v["name"], v["value"]] for v in e["variables"]])


def _explain(e: dict[str, Any]) -> list[str]:
    d = e["queryDescription"]
    info = [
        ("ID", d["id"] or "<transient>"),
        ("Query Type", d["queryType"]),
        ("SQL", d["statementText"]),
    ]
    hosts = d.get("ksqlHostQueryStatus") or {}
    if hosts:
        info.append(
            ("Host Query Status", "{" + ", ".join(f"{h}={s}" for h, s in hosts.items()) + "}")
        )
    statistics = [text for text in (d.get("statistics"), d.get("errorStats")) if text]
    lines = ["", *labelled(info), ""]
    if statistics:
        lines += ["", "Local runtime statistics", "------------------------", *statistics]
    lines += [
        "",
        "Execution plan",
        "--------------",
        *d["executionPlan"].splitlines(),
        "",
        "Processing topology",
        "-------------------",
        *d.get("topology", "").splitlines(),
        "",
    ]
    for error in d.get("queryErrors", []):
        lines += labelled(
            [
                ("Error Date", _error_date(error["timestamp"])),
                ("Error Details", error["errorMessage"]),
                ("Error Type", error["type"]),
            ]
        )
    return lines


def _error_date(epoch_ms: int) -> str:
    """A query error's time as ksqlDB's CLI prints it: 2024-05-01 09:30:12,345 (UTC)."""
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, dt.UTC)
    return f"{moment.strftime('%Y-%m-%d %I:%M:%S')},{epoch_ms % 1000:03d} (UTC)"


def _warning(e: dict[str, Any]) -> list[str]:
    return [f"WARNING: {e['message']}"]


def _connector_created(e: dict[str, Any]) -> list[str]:
    return [f"Created connector {e['info']['name']}"]


def _connector_dropped(e: dict[str, Any]) -> list[str]:
    return [f'Dropped connector "{e["connectorName"]}"']


def _connectors(e: dict[str, Any]) -> list[str]:
    rows = [[c["name"], c["type"], c["className"], c["state"]] for c in e["connectors"]]
    return boxed(["Connector Name", "Type", "Class", "Status"], rows)


def _connector(e: dict[str, Any]) -> list[str]:
    status = e["status"]
    lines = labelled(
        [
            ("Name", status["name"]),
            ("Class", e["connectorClass"]),
            ("Type", status["type"]),
            ("State", status["connector"]["state"]),
            ("WorkerId", status["connector"]["worker_id"]),
        ]
    )
    tasks = [[str(t["id"]), t["state"], t.get("trace", "")] for t in status["tasks"]]
    return [*lines, "", *boxed(["Task ID", "State", "Error Trace"], tasks)]


_RENDERERS: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "currentStatus": _status,
    "streams": _sources,
    "tables": _sources,
    "queries": _queries,
    "sourceDescription": _description,
    "source_descriptions": _descriptions,
    "kafka_topics": _topics,
    "kafka_topics_extended": _topics,
    "properties": _properties,
    "function_names": _functions,
    "describe_function": _function,
    "type_list": _types,
    "variables": _variables,
    "queryDescription": _explain,
    "warning_entity": _warning,
    "connector_info": _connector_created,
    "drop_connector": _connector_dropped,
    "connector_list": _connectors,
    "connector_description": _connector,
}


# ---------------------------------------------------------------------------- query rows


class RowTable:
    """A query's rows as a bordered table, one line per row as it arrives: every column as
    wide as the terminal allows for its share, longer values wrapped onto more lines."""

    def __init__(self, columns: list[str], terminal_width: int) -> None:
        share = max(1, (terminal_width - 1) // max(1, len(columns)) - 1)
        self.widths = [max(len(name), share) for name in columns]
        self.columns = columns

    @property
    def border(self) -> str:
        return "+" + "+".join("-" * w for w in self.widths) + "+"

    def header(self) -> list[str]:
        return [self.border, *self.row(self.columns), self.border]

    def row(self, values: list[Any]) -> list[str]:
        wrapped = [
            textwrap.wrap(cell(v), w, break_on_hyphens=False) or [""]
            for v, w in zip(values, self.widths, strict=False)
        ]
        depth = max((len(parts) for parts in wrapped), default=1)
        return [
            "|"
            + "|".join(
                (parts[i] if i < len(parts) else "").ljust(w)
                for parts, w in zip(wrapped, self.widths, strict=False)
            )
            + "|"
            for i in range(depth)
        ]


# ---------------------------------------------------------------------------- errors


def error_position(message: str) -> tuple[int, int] | None:
    """(line, column) of a parse error's `line L:C:` prefix, as ksqlDB words them."""
    m = _POSITION.search(message)
    return (int(m.group(1)), int(m.group(2))) if m else None


def error_lines(message: str, statement: str) -> tuple[list[str], list[str]]:
    """The message, then the statement with a caret under the position the message names."""
    message = message.split("\nStatement:", 1)[0].rstrip()
    if not statement:
        return message.splitlines(), []
    label = "Statement: "
    shown = [
        label + line if i == 0 else " " * len(label) + line
        for i, line in enumerate(statement.splitlines())
    ]
    position = error_position(message)
    if position is not None and 0 < position[0] <= len(shown):
        line, column = position
        shown.insert(line, " " * (len(label) + column - 1) + "^")
    return message.splitlines(), shown
