// The flow graph: sources -> queries -> sinks for the whole server, in columns by depth;
// a click on a query shows its EXPLAIN (the physical topology).

const SVG = "http://www.w3.org/2000/svg";
const NODE_W = 190;
const NODE_H = 34;
const GAP_X = 70;
const GAP_Y = 18;

// Nodes {id, label, kind} and edges [from, to] from the sources' read and write queries.
export function flowGraph(catalog) {
  const nodes = new Map();
  const edges = [];
  for (const source of catalog.sources) {
    nodes.set(`source:${source.name}`, { id: `source:${source.name}`, label: source.name, kind: source.type.toLowerCase() });
  }
  for (const query of catalog.queries) {
    nodes.set(`query:${query.id}`, { id: `query:${query.id}`, label: query.id, kind: "query", queryId: query.id });
  }
  for (const source of catalog.sources) {
    for (const query of source.readQueries || []) edges.push([`source:${source.name}`, `query:${query.id}`]);
    for (const query of source.writeQueries || []) edges.push([`query:${query.id}`, `source:${source.name}`]);
  }
  for (const query of catalog.queries) {
    for (const sink of query.sinks || []) edges.push([`query:${query.id}`, `source:${sink}`]);
  }
  const unique = new Map(edges.map((edge) => [edge.join("\n"), edge]));
  return { nodes: [...nodes.values()], edges: [...unique.values()].filter(([a, b]) => nodes.has(a) && nodes.has(b)) };
}

// Each node's column: the longest path from a node nothing feeds (bounded: a cycle stops).
function depths(graph) {
  const depth = new Map(graph.nodes.map((n) => [n.id, 0]));
  for (let round = 0; round < graph.nodes.length; round++) {
    let changed = false;
    for (const [from, to] of graph.edges) {
      if (depth.get(to) < depth.get(from) + 1) {
        depth.set(to, depth.get(from) + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return depth;
}

export function drawFlow(svg, graph, onQuery) {
  const depth = depths(graph);
  const columns = [];
  for (const node of graph.nodes) (columns[depth.get(node.id)] ||= []).push(node);
  orderColumns(columns.filter(Boolean), graph.edges);
  const place = new Map();
  columns.forEach((column, c) =>
    column.forEach((node, r) => place.set(node.id, { x: 10 + c * (NODE_W + GAP_X), y: 10 + r * (NODE_H + GAP_Y) })),
  );
  const width = 20 + columns.length * (NODE_W + GAP_X);
  const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (NODE_H + GAP_Y);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const parts = [arrowHead()];
  for (const [from, to] of graph.edges) {
    const a = place.get(from);
    const b = place.get(to);
    const path = shape("path", {
      class: "edge",
      d: `M${a.x + NODE_W},${a.y + NODE_H / 2} C${a.x + NODE_W + GAP_X / 2},${a.y + NODE_H / 2} ${b.x - GAP_X / 2},${b.y + NODE_H / 2} ${b.x},${b.y + NODE_H / 2}`,
      "marker-end": "url(#arrow)",
    });
    path.dataset.from = from;
    path.dataset.to = to;
    parts.push(path);
  }
  for (const node of graph.nodes) {
    const { x, y } = place.get(node.id);
    const group = shape("g", { class: `node node-${node.kind}`, transform: `translate(${x},${y})` });
    group.dataset.id = node.id;
    const box = shape("rect", { width: NODE_W, height: NODE_H, rx: node.kind === "query" ? 17 : 4 });
    const label = shape("text", { x: NODE_W / 2, y: NODE_H / 2 + 4, "text-anchor": "middle" });
    label.textContent = node.label.length > 26 ? node.label.slice(0, 25) + "…" : node.label;
    const title = shape("title", {});
    title.textContent = `${node.kind} ${node.label}`;
    group.append(box, label, title);
    if (node.queryId) group.addEventListener("click", () => onQuery(node.queryId));
    parts.push(group);
  }
  svg.replaceChildren(...parts);
}

// Fewer crossings: each column sorted by the mean row of what feeds it, then the first
// column by the mean row of what it feeds.
function orderColumns(columns, edges) {
  const row = new Map();
  const meanRow = (node, ends) => {
    const rows = edges.filter((e) => e[ends[1]] === node.id && row.has(e[ends[0]])).map((e) => row.get(e[ends[0]]));
    return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Number.MAX_SAFE_INTEGER;
  };
  const number = (column) => column.forEach((node, r) => row.set(node.id, r));
  columns.forEach((column, c) => {
    if (c > 0) column.sort((a, b) => meanRow(a, [0, 1]) - meanRow(b, [0, 1]));
    number(column);
  });
  if (columns.length > 1) {
    columns[0].sort((a, b) => meanRow(a, [1, 0]) - meanRow(b, [1, 0]));
    number(columns[0]);
  }
}

function arrowHead() {
  const defs = shape("defs", {});
  const marker = shape("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" });
  marker.append(shape("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }));
  defs.append(marker);
  return defs;
}

function shape(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}
