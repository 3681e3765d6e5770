// The console page: editor, results, catalog and flow, wired to the REST API.

import { Api } from "./api.js";
import { CatalogView, loadCatalog, loadFunctions } from "./catalog.js";
import { Editor } from "./editor.js";
import { drawFlow, flowGraph } from "./flow.js";
import { element, ResultView } from "./results.js";
import { errorPosition, KEYWORDS, offsetOf, propertyStatement, statementAt, statementKind, statements } from "./sql.js";

const HISTORY_KEY = "streamdb.console.history";
const PROPERTIES_KEY = "streamdb.console.properties";
const MAX_HISTORY = 100;
const CATALOG_REFRESH_MS = 5000;
const PRINT_IDLE_MS = 1500; // PRINT in the editor shows what arrived until this long a pause
const $ = (selector) => document.querySelector(selector);

const api = new Api(askLogin);
const state = {
  catalog: { sources: [], types: {}, topics: [], queries: [] },
  functions: [],
  properties: JSON.parse(localStorage.getItem(PROPERTIES_KEY) || '{"auto.offset.reset":"earliest"}'),
  history: JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]"),
  running: null, // {controller, queryId, view} of the open push query
  flowDrawn: "", // the graph the flow tab shows, as JSON
};

const editor = new Editor($("#editor"), { onRun: runFromEditor, onHistory: recall, words: completionWords });
const catalogView = new CatalogView($("#catalog"), $("#source-detail"), api, {
  onChanged: refreshCatalog,
  onError: (statement, error) => showError(error.message),
});

// Keywords, functions, streams and tables, and their columns.
function completionWords() {
  const words = KEYWORDS.map((word) => ({ word, kind: "keyword" }));
  for (const source of state.catalog.sources) {
    words.push({ word: source.name, kind: source.type.toLowerCase() });
    for (const field of source.fields) words.push({ word: field.name, kind: `${source.name} column` });
  }
  for (const name of state.functions) words.push({ word: name, kind: "function" });
  return words;
}

// ------------------------------------------------------------------ running statements

function runFromEditor(selectedText, selectedStart) {
  if (selectedText !== null) {
    const inSelection = statements(selectedText).map((s) => ({ ...s, start: s.start + selectedStart }));
    return runAll(inSelection);
  }
  const current = statementAt(editor.text, editor.textarea.selectionStart);
  return current ? runAll([current]) : null;
}

async function runAll(list) {
  editor.clearError();
  for (const statement of list) {
    if (!(await run(statement))) break;
  }
}

// Run one statement ({text, start} in the editor); false if it failed.
async function run(statement) {
  remember(statement.text);
  await stopRunning();
  const properties = { ...state.properties };
  try {
    switch (statementKind(statement.text)) {
      case "set":
      case "unset":
        return changeProperty(statement);
      case "pull":
      case "push":
        await runQuery(statement, properties);
        return true;
      case "print":
        showMessage((await api.print(statement.text, PRINT_IDLE_MS)).join("\n") || "(nothing printed)");
        return true;
      default: {
        const entities = await api.ksql(statement.text, properties);
        showEntities(entities, statement.text);
        refreshCatalog();
        return true;
      }
    }
  } catch (error) {
    if (error.name === "AbortError") return true;
    markStatementError(statement, error.message);
    return false;
  }
}

function changeProperty(statement) {
  const parsed = propertyStatement(statement.text);
  if (!parsed) {
    markStatementError(statement, "Write SET 'name'='value'; or UNSET 'name';");
    return false;
  }
  const [name, value] = parsed;
  if (value === undefined) delete state.properties[name];
  else state.properties[name] = value;
  saveProperties();
  showMessage(value === undefined ? `Property '${name}' unset.` : `Property '${name}' set to '${value}'.`);
  return true;
}

async function runQuery(statement, properties) {
  const controller = new AbortController();
  const live = statementKind(statement.text) === "push";
  const running = { controller, queryId: null, view: null };
  state.running = running;
  showTab("results");
  $("#results").replaceChildren(element("div", "message", "Running…"));
  try {
    await api.queryStream(
      statement.text,
      properties,
      controller.signal,
      (header) => {
        running.queryId = header.queryId;
        running.view = new ResultView($("#results"), header, { live, onStop: () => stopRunning() });
      },
      (rows) => running.view.addRows(rows),
    );
    if (running.view) running.view.finished(live ? "ended" : "");
  } catch (error) {
    if (error.name === "AbortError") {
      if (running.view) running.view.finished("stopped");
      return;
    }
    throw error;
  } finally {
    if (state.running === running) state.running = null;
  }
}

async function stopRunning() {
  const running = state.running;
  if (!running) return;
  state.running = null;
  running.controller.abort();
  if (running.view) running.view.finished("stopped");
  if (running.queryId) await api.closeQuery(running.queryId).catch(() => null);
}

function markStatementError(statement, message) {
  const position = errorPosition(message);
  if (position && statement.start !== undefined) {
    const at = statement.start + offsetOf(statement.text, position.line, position.column);
    const word = /^[^\s,;()]*/.exec(editor.text.slice(at))[0];
    editor.markError(at, at + Math.max(word.length, 1), message);
    showError(message, position);
  } else {
    showError(message);
  }
}

function showError(message, position) {
  showTab("results");
  const box = element("div", "message error");
  if (position) box.append(element("strong", "", `Line ${position.line}, column ${position.column}: `));
  box.append(element("pre", "", message));
  $("#results").replaceChildren(box);
}

function showMessage(text) {
  showTab("results");
  $("#results").replaceChildren(element("pre", "message", text));
}

// What /ksql answered, as the CLI prints it: messages, or the entity as JSON.
function showEntities(entities, text) {
  if (!entities.length) return showMessage(`Done: ${text}`);
  const lines = entities.map((entity) => {
    if (entity.commandStatus) return entity.commandStatus.message;
    if (entity.queryDescription) return entity.queryDescription.topology || JSON.stringify(entity, null, 2);
    return JSON.stringify(entity, null, 2);
  });
  showMessage(lines.join("\n\n"));
}

// ------------------------------------------------------------------ history and properties

// Ctrl+Up puts the statement run before the one shown in the editor, Ctrl+Down the one after
// (past the newest, the editor is emptied).
let recalled = -1; // the history entry the editor shows, -1 for none
function recall(step) {
  recalled = Math.max(-1, Math.min(state.history.length - 1, recalled + step));
  editor.text = recalled < 0 ? "" : state.history[recalled];
}

function remember(text) {
  recalled = -1;
  state.history = [text, ...state.history.filter((t) => t !== text)].slice(0, MAX_HISTORY);
  localStorage.setItem(HISTORY_KEY, JSON.stringify(state.history));
  renderHistory();
}

function renderHistory() {
  $("#history").replaceChildren(
    ...state.history.map((text) => {
      const li = element("li", "", "");
      const button = element("button", "history-item", text);
      button.title = "Put it in the editor";
      button.addEventListener("click", () => {
        editor.text = text;
        editor.textarea.focus();
      });
      li.append(button);
      return li;
    }),
  );
}

function saveProperties() {
  localStorage.setItem(PROPERTIES_KEY, JSON.stringify(state.properties));
  renderProperties();
}

function renderProperties() {
  $("#offset-reset").value = state.properties["auto.offset.reset"] || "latest";
  $("#properties").replaceChildren(
    ...Object.entries(state.properties).map(([name, value]) => {
      const chip = element("span", "property", `${name}=${value}`);
      const remove = element("button", "unset", "×");
      remove.title = `UNSET '${name}'`;
      remove.addEventListener("click", () => {
        delete state.properties[name];
        saveProperties();
      });
      chip.append(remove);
      return chip;
    }),
  );
}

// ------------------------------------------------------------------ catalog and flow

let refreshing = null;
function refreshCatalog() {
  refreshing ||= loadCatalog(api)
    .then((catalog) => {
      state.catalog = catalog;
      catalogView.render(catalog);
      const graph = flowGraph(catalog);
      if (JSON.stringify(graph) !== state.flowDrawn) {
        state.flowDrawn = JSON.stringify(graph);
        drawFlow($("#flow-graph"), graph, explainQuery);
      }
      $("#status").textContent = `${catalog.sources.length} sources · ${catalog.queries.length} queries`;
    })
    .catch((error) => ($("#status").textContent = `catalog: ${error.message}`))
    .finally(() => (refreshing = null));
  return refreshing;
}

async function explainQuery(queryId) {
  for (const node of document.querySelectorAll("#flow-graph .node")) {
    node.classList.toggle("selected", node.dataset.id === `query:${queryId}`);
  }
  const detail = $("#flow-detail");
  detail.replaceChildren(element("h3", "", `EXPLAIN ${queryId}`), element("pre", "topology", "…"));
  try {
    const [entity] = await api.ksql(`EXPLAIN ${queryId};`);
    const description = entity.queryDescription;
    detail.querySelector("pre").textContent =
      `${description.statementText}\n\nSources: ${description.sources.join(", ")}  Sinks: ${description.sinks.join(", ")}  State: ${description.state}\n\n${description.topology}`;
  } catch (error) {
    detail.querySelector("pre").textContent = error.message;
  }
}

// ------------------------------------------------------------------ login, tabs, start

function askLogin(problem) {
  const dialog = $("#login");
  $("#login-problem").textContent = problem || "This server needs a user and password.";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.querySelector("form").onsubmit = (event) => {
      event.preventDefault();
      dialog.close();
      resolve({ user: $("#login-user").value, password: $("#login-password").value });
    };
  });
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", selected);
    $(`#${tab.dataset.tab}-panel`).hidden = !selected;
  }
}

for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
$("#run").addEventListener("click", () => {
  editor.textarea.focus();
  const selected = editor.selection();
  runFromEditor(selected ? selected.text : null, selected ? selected.start : null);
});
$("#offset-reset").addEventListener("change", (event) => {
  state.properties["auto.offset.reset"] = event.target.value;
  saveProperties();
});
$("#refresh").addEventListener("click", refreshCatalog);
editor.textarea.focus();
renderHistory();
renderProperties();
api
  .json("/info")
  .then((info) => ($("#server").textContent = `streamdb ${info.KsqlServerInfo.version} · ${location.host}`))
  .then(() => Promise.all([refreshCatalog(), loadFunctions(api).then((names) => (state.functions = names))]))
  .catch((error) => ($("#status").textContent = error.message));
setInterval(() => document.visibilityState === "visible" && refreshCatalog(), CATALOG_REFRESH_MS);
