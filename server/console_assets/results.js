// Query results: a table (growing live for a push query) and a chart of a numeric column.

import { NUMERIC_TYPES } from "./sql.js";

const MAX_TABLE_ROWS = 1000; // the newest rows a live table keeps in the page
const MAX_CHART_POINTS = 500;
const RATE_WINDOW_MS = 5000;

export class ResultView {
  constructor(root, header, { live, onStop }) {
    this.root = root;
    this.columns = header.columnNames;
    this.types = header.columnTypes;
    this.live = live;
    this.count = 0;
    this.arrivals = []; // [time, rows] of the last RATE_WINDOW_MS
    this.points = []; // [time, row] for the chart
    this.started = performance.now();
    root.replaceChildren(this.toolbar(onStop), this.chartPanel(), this.table());
    if (live) this.rateTimer = setInterval(() => this.showCounts(), 500);
  }

  toolbar(onStop) {
    const bar = element("div", "result-bar");
    this.counter = element("span", "row-count", "0 rows");
    this.rate = element("span", "row-rate", "");
    bar.append(this.counter, this.rate);
    if (this.live) {
      this.stopButton = element("button", "stop", "Stop");
      this.stopButton.addEventListener("click", onStop);
      bar.append(this.stopButton);
    }
    const numeric = this.columns.filter((_, i) => NUMERIC_TYPES.test(this.types[i]));
    if (numeric.length) {
      this.chartColumn = select("chart-column", ["", ...numeric], (c) => (c ? `Chart ${c}` : "No chart"));
      this.chartKind = select("chart-kind", ["line", "bar"], (k) => (k === "line" ? "over time" : "per key"));
      this.chartKey = select("chart-key", this.columns, (c) => `key ${c}`);
      for (const control of [this.chartColumn, this.chartKind, this.chartKey]) {
        control.addEventListener("change", () => this.drawChart());
      }
      bar.append(this.chartColumn, this.chartKind, this.chartKey);
    }
    return bar;
  }

  chartPanel() {
    this.canvas = element("canvas", "chart");
    this.canvas.hidden = true;
    this.canvas.width = 900;
    this.canvas.height = 220;
    return this.canvas;
  }

  table() {
    const wrap = element("div", "table-wrap");
    const table = element("table", "results");
    const head = table.createTHead().insertRow();
    this.columns.forEach((name, i) => {
      const th = element("th", "", name);
      th.title = this.types[i];
      head.append(th);
    });
    this.body = table.createTBody();
    wrap.append(table);
    return wrap;
  }

  addRows(rows) {
    const now = performance.now();
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const value of row) tr.append(element("td", "", display(value)));
      fragment.append(tr);
      this.points.push([now, row]);
    }
    this.body.append(fragment);
    while (this.body.rows.length > MAX_TABLE_ROWS) this.body.deleteRow(0);
    if (this.points.length > MAX_CHART_POINTS) this.points.splice(0, this.points.length - MAX_CHART_POINTS);
    this.count += rows.length;
    this.arrivals.push([now, rows.length]);
    this.showCounts();
    this.drawChart();
  }

  showCounts() {
    const now = performance.now();
    this.arrivals = this.arrivals.filter(([t]) => now - t <= RATE_WINDOW_MS);
    this.counter.textContent = `${this.count} row${this.count === 1 ? "" : "s"}`;
    if (!this.live) return;
    const span = Math.min(RATE_WINDOW_MS, now - this.started) / 1000;
    const recent = this.arrivals.reduce((sum, [, n]) => sum + n, 0);
    this.rate.textContent = `${(span > 0 ? recent / span : 0).toFixed(1)} rows/s`;
  }

  finished(message) {
    clearInterval(this.rateTimer);
    this.showCounts();
    if (this.stopButton) this.stopButton.disabled = true;
    if (message) this.rate.textContent = message;
  }

  drawChart() {
    const column = this.chartColumn && this.chartColumn.value;
    this.canvas.hidden = !column;
    if (!column) return;
    const index = this.columns.indexOf(column);
    const byKey = this.chartKind.value === "bar";
    this.chartKey.hidden = !byKey;
    const series = byKey ? this.perKey(index, this.columns.indexOf(this.chartKey.value)) : this.overTime(index);
    drawSeries(this.canvas, series, this.chartKind.value, column);
  }

  overTime(index) {
    return this.points.map(([, row], i) => ({ label: String(i + 1), value: Number(row[index]) }));
  }

  // The latest value per key (the value of the key column).
  perKey(index, keyIndex) {
    const latest = new Map();
    for (const [, row] of this.points) latest.set(display(row[keyIndex]), Number(row[index]));
    return [...latest].map(([label, value]) => ({ label, value }));
  }
}

function drawSeries(canvas, series, kind, title) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  const pad = { left: 56, right: 12, top: 22, bottom: 28 };
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px sans-serif";
  ctx.fillStyle = "#445";
  ctx.fillText(`${title} ${kind === "line" ? "over time" : "per key"}`, pad.left, 14);
  const values = series.map((p) => p.value).filter(Number.isFinite);
  if (!values.length) return;
  const low = Math.min(0, ...values);
  const high = Math.max(...values, low + 1);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const y = (v) => pad.top + plotH - ((v - low) / (high - low)) * plotH;
  ctx.strokeStyle = "#ccd";
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, pad.top + plotH);
  ctx.lineTo(pad.left + plotW, pad.top + plotH);
  ctx.stroke();
  ctx.fillText(String(high), 4, pad.top + 4);
  ctx.fillText(String(low), 4, pad.top + plotH);
  ctx.fillStyle = ctx.strokeStyle = "#2f6fdf";
  if (kind === "bar") {
    const slot = plotW / series.length;
    series.forEach((p, i) => {
      const x = pad.left + i * slot + slot * 0.15;
      ctx.fillRect(x, y(p.value), slot * 0.7, y(low) - y(p.value));
      ctx.fillStyle = "#445";
      ctx.fillText(p.label.slice(0, 12), x, height - 10);
      ctx.fillStyle = "#2f6fdf";
    });
    return;
  }
  const step = series.length > 1 ? plotW / (series.length - 1) : 0;
  ctx.lineWidth = 2;
  ctx.beginPath();
  series.forEach((p, i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, pad.left + i * step, y(p.value)));
  ctx.stroke();
  series.forEach((p, i) => ctx.fillRect(pad.left + i * step - 2, y(p.value) - 2, 4, 4));
}

export function display(value) {
  if (value === null || value === undefined) return "null";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function select(className, values, label) {
  const node = element("select", className);
  for (const value of values) node.append(new Option(label(value), value));
  return node;
}
