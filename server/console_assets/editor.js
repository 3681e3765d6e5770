// The SQL editor: a textarea (the page's first text box) over a highlighted copy of its
// text, with completion, Ctrl+Enter and error marks.

import { tokenize } from "./sql.js";

const MAX_SUGGESTIONS = 12;

export class Editor {
  constructor(root, { onRun, onHistory, words }) {
    this.onRun = onRun; // (text, start) => void: the statement(s) to run and where they start
    this.onHistory = onHistory; // (step) => void: Ctrl+Up (+1, older) and Ctrl+Down walk the history
    this.words = words; // () => [{word, kind}]: what completion offers besides keywords
    this.error = null; // {start, end, message}
    this.textarea = root.querySelector("textarea");
    this.highlight = root.querySelector("pre");
    this.popup = root.querySelector(".completion");
    this.textarea.addEventListener("input", () => {
      this.error = null;
      this.render();
      this.complete(false);
    });
    this.textarea.addEventListener("scroll", () => this.syncScroll());
    this.textarea.addEventListener("keydown", (event) => this.keydown(event));
    this.textarea.addEventListener("blur", () => setTimeout(() => this.closePopup(), 150));
    this.render();
  }

  get text() {
    return this.textarea.value;
  }

  set text(value) {
    this.textarea.value = value;
    this.error = null;
    this.render();
  }

  // The selection if there is one, else null.
  selection() {
    const { selectionStart: start, selectionEnd: end } = this.textarea;
    return start === end ? null : { text: this.text.slice(start, end), start };
  }

  markError(start, end, message) {
    this.error = { start, end: Math.max(end, start + 1), message };
    this.render();
  }

  clearError() {
    this.error = null;
    this.render();
  }

  render() {
    const text = this.text;
    const fragments = [];
    for (const token of tokenize(text)) fragments.push(...this.pieces(token));
    this.highlight.replaceChildren(...fragments, document.createTextNode("\n"));
    this.syncScroll();
  }

  // A token's spans, split where the error mark begins or ends inside it.
  pieces(token) {
    const cuts = [token.start, token.start + token.text.length];
    if (this.error) cuts.push(this.error.start, this.error.end);
    const inside = [...new Set(cuts)].filter((c) => c >= cuts[0] && c <= cuts[1]).sort((a, b) => a - b);
    const spans = [];
    for (let i = 0; i + 1 < inside.length; i++) {
      const span = document.createElement("span");
      span.className = `tok-${token.type}`;
      span.textContent = token.text.slice(inside[i] - token.start, inside[i + 1] - token.start);
      if (this.error && inside[i] >= this.error.start && inside[i] < this.error.end) {
        span.classList.add("error-mark");
        span.title = this.error.message;
      }
      spans.push(span);
    }
    return spans;
  }

  syncScroll() {
    this.highlight.scrollTop = this.textarea.scrollTop;
    this.highlight.scrollLeft = this.textarea.scrollLeft;
  }

  keydown(event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.closePopup();
      const selected = this.selection();
      this.onRun(selected ? selected.text : null, selected ? selected.start : null);
      return;
    }
    if ((event.key === "ArrowUp" || event.key === "ArrowDown") && event.ctrlKey) {
      event.preventDefault();
      this.closePopup();
      this.onHistory(event.key === "ArrowUp" ? 1 : -1);
      return;
    }
    if (event.key === " " && event.ctrlKey) {
      event.preventDefault();
      this.complete(true);
      return;
    }
    if (this.popup.hidden) return;
    const items = [...this.popup.children];
    const active = items.findIndex((li) => li.classList.contains("active"));
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const next = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.classList.toggle("active", i === next));
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      this.accept(items[Math.max(active, 0)].dataset.word);
    } else if (event.key === "Escape") {
      this.closePopup();
    }
  }

  // The word being typed before the caret: {start, prefix}.
  wordBeforeCaret() {
    const caret = this.textarea.selectionStart;
    const match = /[A-Za-z_][A-Za-z0-9_]*$/.exec(this.text.slice(0, caret));
    return { start: match ? caret - match[0].length : caret, prefix: match ? match[0] : "" };
  }

  complete(explicit) {
    const { prefix } = this.wordBeforeCaret();
    if (!prefix && !explicit) return this.closePopup();
    const last = tokenize(this.text.slice(0, this.textarea.selectionStart)).pop();
    if (!explicit && ["string", "comment", "quoted"].includes(last.type)) return this.closePopup();
    const upper = prefix.toUpperCase();
    const seen = new Set();
    const matches = this.words().filter(({ word }) => {
      const hit = word.toUpperCase().startsWith(upper) && word.toUpperCase() !== upper && !seen.has(word);
      seen.add(word);
      return hit;
    });
    if (!matches.length) return this.closePopup();
    const items = matches.slice(0, MAX_SUGGESTIONS).map(({ word, kind }, i) => {
      const li = document.createElement("li");
      li.dataset.word = word;
      li.className = i === 0 ? "active" : "";
      const label = document.createElement("span");
      const note = document.createElement("small");
      label.textContent = word;
      note.textContent = kind;
      li.append(label, note);
      li.addEventListener("mousedown", (event) => {
        event.preventDefault();
        this.accept(word);
      });
      return li;
    });
    this.popup.replaceChildren(...items);
    this.placePopup();
    this.popup.hidden = false;
  }

  accept(word) {
    const { start } = this.wordBeforeCaret();
    const caret = this.textarea.selectionStart;
    this.textarea.setRangeText(word, start, caret, "end");
    this.closePopup();
    this.render();
    this.textarea.focus();
  }

  closePopup() {
    this.popup.hidden = true;
  }

  // Below the caret: its line and column times the monospace cell.
  placePopup() {
    const before = this.text.slice(0, this.textarea.selectionStart).split("\n");
    const style = getComputedStyle(this.textarea);
    const lineHeight = parseFloat(style.lineHeight);
    const probe = document.createElement("span");
    probe.textContent = "M".repeat(10);
    this.highlight.appendChild(probe);
    const cell = probe.getBoundingClientRect().width / 10;
    probe.remove();
    const top = before.length * lineHeight + parseFloat(style.paddingTop) - this.textarea.scrollTop;
    const left = before[before.length - 1].length * cell + parseFloat(style.paddingLeft) - this.textarea.scrollLeft;
    this.popup.style.top = `${top + 2}px`;
    this.popup.style.left = `${Math.max(left, 0)}px`;
  }
}
