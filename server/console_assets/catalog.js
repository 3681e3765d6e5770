// The catalog: streams, tables, types, topics and queries, read with SHOW, LIST and DESCRIBE.

import { element } from "./results.js";

const RECORDS_SHOWN = 20;
const RECORDS_READ = 500; // PRINT reads from the beginning: the latest of these are shown
const PRINT_IDLE_MS = 800;

// Everything the console knows of the server's catalog.
export async function loadCatalog(api) {
  const [streams, tables, types, topics, queries] = await api.ksql(
    "SHOW STREAMS; SHOW TABLES; SHOW TYPES; SHOW TOPICS; LIST QUERIES;",
  );
  const sources = [...streams.streams, ...tables.tables];
  const described = sources.length
    ? await api.ksql(sources.map((s) => `DESCRIBE \`${s.name}\` EXTENDED;`).join(" "))
    : [];
  return {
    sources: described.map((d) => d.sourceDescription),
    types: types.types,
    topics: topics.topics,
    queries: queries.queries,
  };
}

export async function loadFunctions(api) {
  const [listed] = await api.ksql("SHOW FUNCTIONS;");
  return listed.functions.map((f) => f.name);
}

export class CatalogView {
  constructor(root, detail, api, { onChanged, onError }) {
    this.root = root;
    this.detail = detail;
    this.api = api;
    this.onChanged = onChanged; // after a drop or terminate
    this.onError = onError;
  }

  // Re-drawn only when something changed, keeping each section's open state and scroll.
  render(catalog) {
    const drawn = JSON.stringify(catalog);
    if (drawn === this.drawn) return;
    this.drawn = drawn;
    const sections = [
      ["Streams", catalog.sources.filter((s) => s.type === "STREAM"), (s) => this.sourceItem(s)],
      ["Tables", catalog.sources.filter((s) => s.type === "TABLE"), (s) => this.sourceItem(s)],
      ["Queries", catalog.queries, (q) => this.queryItem(q, catalog)],
      ["Types", Object.entries(catalog.types), ([name, schema]) => this.typeItem(name, schema)],
      ["Topics", catalog.topics, (t) => topicItem(t)],
    ];
    const open = new Set([...this.root.querySelectorAll("details[open]")].map((d) => d.dataset.section));
    const scrolled = new Map([...this.root.querySelectorAll("details")].map((d) => [d.dataset.section, d.lastChild.scrollTop]));
    this.root.replaceChildren(
      ...sections.map(([title, items, render]) => {
        const details = element("details", "section");
        details.dataset.section = title;
        details.open = open.size ? open.has(title) : title !== "Topics";
        const summary = element("summary", "", `${title} (${items.length})`);
        const list = element("ul", "items");
        list.append(...items.map(render));
        details.append(summary, list);
        return details;
      }),
    );
    for (const details of this.root.querySelectorAll("details")) details.lastChild.scrollTop = scrolled.get(details.dataset.section) || 0;
  }

  sourceItem(source) {
    const li = element("li", "source");
    li.dataset.name = source.name;
    const name = element("button", "name", source.name);
    name.title = "Show its schema and latest records";
    name.addEventListener("click", () => this.showSource(source));
    li.append(name, this.actionButton("Drop", `DROP ${source.type} \`${source.name}\`;`), factsLine(sourceFacts(source)));
    return li;
  }

  queryItem(query, catalog) {
    const li = element("li", "query");
    li.dataset.id = query.id;
    const state = query.state || Object.keys(query.statusCount || {})[0] || "";
    const sink = catalog.sources.find((s) => query.sinks.includes(s.name));
    const stats = sink ? statistics(sink) : "";
    li.append(
      element("span", "name", query.id),
      this.actionButton("Terminate", `TERMINATE ${query.id};`),
      factsLine(`${state} → ${query.sinks.join(", ")}${stats ? " · " + stats : ""}`, `state-${state.toLowerCase()}`),
    );
    return li;
  }

  typeItem(name, schema) {
    const li = element("li", "type");
    li.dataset.name = name;
    li.append(element("span", "name", name), this.actionButton("Drop", `DROP TYPE \`${name}\`;`), factsLine(schemaText(schema)));
    return li;
  }

  actionButton(label, statement) {
    const button = element("button", "action", label);
    button.title = statement;
    button.addEventListener("click", async () => {
      if (!confirm(`${statement}\n\nRun it?`)) return;
      try {
        await this.api.ksql(statement);
      } catch (error) {
        this.onError(statement, error);
      }
      this.onChanged();
    });
    return button;
  }

  async showSource(source) {
    const rows = source.fields.map((f) => [f.name, schemaText(f.schema), f.type === "KEY" ? "KEY" : ""]);
    const table = element("table", "schema");
    const head = table.createTHead().insertRow();
    for (const title of ["Column", "Type", ""]) head.append(element("th", "", title));
    const body = table.createTBody();
    for (const cells of rows) body.insertRow().append(...cells.map((cell) => element("td", "", cell)));
    const records = element("pre", "records", "reading…");
    const heading = element("h3", "", `${source.type.toLowerCase()} ${source.name}`);
    const facts = element("div", "facts", `${sourceFacts(source)} · ${statistics(source)}`);
    const recordsTitle = element("h4", "", `Latest records (PRINT '${source.topic}')`);
    this.detail.replaceChildren(heading, facts, table, recordsTitle, records);
    this.detail.hidden = false;
    try {
      const topic = source.topic.replace(/'/g, "''");
      const printed = await this.api.print(`PRINT '${topic}' FROM BEGINNING LIMIT ${RECORDS_READ};`, PRINT_IDLE_MS);
      const values = printed.filter((line) => line.startsWith("rowtime:"));
      if (values.length >= RECORDS_READ) recordsTitle.textContent += ` — the last ${RECORDS_SHOWN} of its first ${RECORDS_READ}`;
      records.textContent = values.length ? values.slice(-RECORDS_SHOWN).join("\n") : "(no records yet)";
    } catch (error) {
      records.textContent = error.message;
    }
  }
}

function sourceFacts(source) {
  return `${source.keyFormat}/${source.valueFormat} · topic ${source.topic} · ${plural(source.partitions, "partition")}`;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function statistics(source) {
  const parts = [];
  const rate = /messages-per-sec:\s*([\d.]+)/.exec(source.statistics || "");
  const total = /total-messages:\s*(\d+)/.exec(source.statistics || "");
  if (rate) parts.push(`${rate[1]} msg/s`);
  if (total) parts.push(`${total[1]} messages`);
  const errors = /(\d+)/.exec(source.errorStats || "");
  parts.push(`${errors ? errors[1] : 0} errors`);
  return parts.join(" · ");
}

// One line of facts, whole in its tooltip when the catalog's width cuts it.
function factsLine(text, className = "") {
  const line = element("div", `facts ${className}`.trim(), text);
  line.title = text;
  return line;
}


function topicItem(topic) {
  const li = element("li", "topic");
  li.append(element("span", "name", topic.name), factsLine(plural(topic.replicaInfo.length, "partition")));
  return li;
}

// ksqlDB's schema object as SQL type text.
export function schemaText(schema) {
  if (!schema) return "";
  if (schema.type === "ARRAY") return `ARRAY<${schemaText(schema.memberSchema)}>`;
  if (schema.type === "MAP") return `MAP<STRING, ${schemaText(schema.memberSchema)}>`;
  if (schema.type === "STRUCT") {
    return `STRUCT<${(schema.fields || []).map((f) => `${f.name} ${schemaText(f.schema)}`).join(", ")}>`;
  }
  return schema.type === "STRING" ? "VARCHAR" : schema.type;
}
