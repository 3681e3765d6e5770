// SQL text: tokens for highlighting, statements for running, error positions for marking.

export const KEYWORDS = `ADVANCE ALL ALTER AND ANY ARRAY AS ASC ASSERT AT BEGINNING BETWEEN BY CASE CAST
CHANGES CONNECTOR CONNECTORS CREATE DEFINE DELETE DESC DESCRIBE DISTINCT DROP ELSE EMIT END
ERROR ESCAPE EXISTS EXPLAIN EXTENDED FALSE FINAL FROM FULL FUNCTION FUNCTIONS GRACE GROUP
HAVING HEADER HEADERS HOPPING IF IN INNER INSERT INTERVAL INTO IS JOIN KEY LEFT LIKE LIMIT
LIST MAP NOT NULL ON OR OUTER PARTITION PARTITIONS PERIOD PRIMARY PRINT PROPERTIES QUERIES
QUERY REPLACE RETENTION RIGHT SAMPLE SELECT SESSION SET SHOW SINK SIZE SOURCE STREAM STREAMS
STRUCT TABLE TABLES TERMINATE THEN TIMESTAMP TOPIC TOPICS TRUE TUMBLING TYPE TYPES UNSET VALUES
VARIABLES WHEN WHERE WINDOW WITH WITHIN
BIGINT BOOLEAN BYTES DATE DECIMAL DOUBLE INT INTEGER STRING TIME VARCHAR
MILLISECOND MILLISECONDS SECOND SECONDS MINUTE MINUTES HOUR HOURS DAY DAYS`
  .split(/\s+/);

const KEYWORD_SET = new Set(KEYWORDS);

// Each token: {type, text, start}; types: keyword, identifier, string, number, comment,
// quoted (a `back-quoted` or "double-quoted" name), operator, space.
export function tokenize(text) {
  const tokens = [];
  const rules = [
    ["space", /\s+/y],
    ["comment", /--[^\n]*|\/\*[\s\S]*?(\*\/|$)/y],
    ["string", /'(?:[^']|'')*'?/y],
    ["quoted", /`[^`]*`?|"[^"]*"?/y],
    ["number", /\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+/y],
    ["word", /[A-Za-z_$@][A-Za-z0-9_$@]*/y],
    ["operator", /[^\sA-Za-z0-9_'"`]/y],
  ];
  let at = 0;
  while (at < text.length) {
    for (const [type, pattern] of rules) {
      pattern.lastIndex = at;
      const match = pattern.exec(text);
      if (match && match[0].length) {
        const word = match[0];
        const kind = type === "word" ? (KEYWORD_SET.has(word.toUpperCase()) ? "keyword" : "identifier") : type;
        tokens.push({ type: kind, text: word, start: at });
        at += word.length;
        break;
      }
    }
  }
  return tokens;
}

// The statements of `text`, each {text, start, end} (end after its `;`, if any), split at
// semicolons outside strings, quoted names and comments.
export function statements(text) {
  const found = [];
  let start = 0;
  for (const token of tokenize(text)) {
    if (token.type === "operator" && token.text === ";") {
      found.push({ start, end: token.start + 1 });
      start = token.start + 1;
    }
  }
  if (text.slice(start).trim()) found.push({ start, end: text.length });
  return found
    .map(({ start, end }) => {
      const lead = text.slice(start, end).search(/\S/);
      return { start: start + Math.max(lead, 0), end, text: text.slice(start, end).trim() };
    })
    .filter((s) => tokenize(s.text).some((t) => t.type !== "space" && t.type !== "comment" && t.text !== ";"));
}

// The statement the caret at `offset` is in; after the last `;`, the one before it.
export function statementAt(text, offset) {
  const all = statements(text);
  const inside = all.find((s) => offset >= s.start && offset <= s.end);
  if (inside) return inside;
  return all.filter((s) => s.end <= offset).pop() || all[0] || null;
}

// Where in its statement an error message points: ksqlDB says "line 1:10" or
// "Line: 1, Col: 18", lines and columns counted from 1.
export function errorPosition(message) {
  let match = /line (\d+):(\d+)/i.exec(message);
  if (match) return { line: Number(match[1]), column: Math.max(Number(match[2]), 1) };
  match = /Line: (\d+), Col: (\d+)/.exec(message);
  if (match) return { line: Number(match[1]), column: Number(match[2]) };
  return null;
}

// The offset in `text` of a 1-based line and column.
export function offsetOf(text, line, column) {
  let offset = 0;
  for (let n = 1; n < line; n++) {
    const next = text.indexOf("\n", offset);
    if (next < 0) break;
    offset = next + 1;
  }
  return Math.min(offset + column - 1, text.length);
}

// What kind of request a statement needs.
export function statementKind(text) {
  const words = text.replace(/^(\s|--[^\n]*\n)*/, "").split(/\s+/, 2).map((w) => w.toUpperCase());
  if (words[0] === "SELECT") return /\bEMIT\s+(CHANGES|FINAL)\b/i.test(text) ? "push" : "pull";
  if (words[0] === "PRINT") return "print";
  if (words[0] === "SET") return "set";
  if (words[0] === "UNSET") return "unset";
  return "ksql";
}

// SET 'name'='value' -> [name, value]; UNSET 'name' -> [name].
export function propertyStatement(text) {
  const set = /^SET\s+'([^']+)'\s*=\s*'((?:[^']|'')*)'\s*;?$/i.exec(text.trim());
  if (set) return [set[1], set[2].replace(/''/g, "'")];
  const unset = /^UNSET\s+'([^']+)'\s*;?$/i.exec(text.trim());
  return unset ? [unset[1]] : null;
}

export const NUMERIC_TYPES = /^(INTEGER|INT|BIGINT|DOUBLE|DECIMAL)/i;
