// The REST API, as every client uses it, with the login the server may ask for.

const LOGIN_KEY = "streamdb.console.login";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export class Api {
  constructor(askLogin) {
    this.askLogin = askLogin; // () => Promise<{user, password}>, when the server answers 401
    this.login = JSON.parse(sessionStorage.getItem(LOGIN_KEY) || "null");
  }

  headers(extra = {}) {
    const headers = { "Content-Type": "application/json", "X-Streamdb-Console": "1", ...extra };
    if (this.login) headers.Authorization = "Basic " + base64(`${this.login.user}:${this.login.password}`);
    return headers;
  }

  // fetch, asking for a login (again) while the server answers 401.
  async fetch(path, options = {}) {
    for (;;) {
      const used = this.login;
      const response = await fetch(path, { ...options, headers: this.headers(options.headers) });
      if (response.status !== 401) return response;
      if (this.login === used) await this.relogin(); // else another request logged in meanwhile
    }
  }

  // One login form at a time: requests refused together wait for the same answer.
  relogin() {
    this.pendingLogin ||= this.askLogin(this.login ? "That user and password were refused." : "")
      .then((login) => {
        this.login = login;
        sessionStorage.setItem(LOGIN_KEY, JSON.stringify(login));
      })
      .finally(() => (this.pendingLogin = null));
    return this.pendingLogin;
  }

  async json(path, body) {
    const response = await this.fetch(path, {
      method: body === undefined ? "GET" : "POST",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    if (!response.ok) throw new ApiError(response.status, parsed);
    return parsed;
  }

  // POST /ksql: the entities of the statements, or an ApiError with ksqlDB's error body.
  ksql(sql, properties = {}) {
    return this.json("/ksql", { ksql: sql, streamsProperties: properties });
  }

  // POST /query-stream: calls onHeader({queryId, columnNames, columnTypes}) then onRows(rows)
  // per chunk; resolves when the query ends, rejects with an ApiError if it fails.
  async queryStream(sql, properties, signal, onHeader, onRows) {
    const response = await this.fetch("/query-stream", {
      method: "POST",
      body: JSON.stringify({ sql, properties }),
      signal,
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    let header = null;
    await readLines(response, (lines) => {
      const rows = [];
      for (const line of lines) {
        const value = JSON.parse(line);
        if (Array.isArray(value)) rows.push(value);
        else if (!header) onHeader((header = value));
        else if (value["@type"] && value["@type"].endsWith("error")) throw new ApiError(500, value);
      }
      if (rows.length) onRows(rows);
    });
  }

  // POST /query with a PRINT statement: the lines it printed until its LIMIT or `idleMs` of
  // quiet (four times that before the first line).
  async print(statement, idleMs) {
    const controller = new AbortController();
    const response = await this.fetch("/query", {
      method: "POST",
      body: JSON.stringify({ ksql: statement }),
      signal: controller.signal,
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const printed = [];
    let timer = setTimeout(() => controller.abort(), idleMs * 4);
    try {
      await readLines(response, (lines) => {
        printed.push(...lines);
        clearTimeout(timer);
        timer = setTimeout(() => controller.abort(), idleMs);
      });
    } catch (error) {
      if (error.name !== "AbortError") throw error;
    } finally {
      clearTimeout(timer);
    }
    return printed;
  }

  closeQuery(queryId) {
    return this.fetch("/close-query", { method: "POST", body: JSON.stringify({ queryId }) });
  }
}

// Base64 of the text's UTF-8 bytes (btoa alone takes Latin-1 only).
function base64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

// Feed the non-empty lines of a streamed body to onLines, a chunk's worth at a time.
async function readLines(response, onLines) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop();
    const full = lines.map((l) => l.trim()).filter(Boolean);
    if (full.length) onLines(full);
  }
  if (pending.trim()) onLines([pending.trim()]);
}
