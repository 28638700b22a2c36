// The raw event log of one session: every Engine.IO frame in and out (Socket.IO events, acknowledgements,
// connects, pings), every REST call, and the connection's own events, filterable. Payloads are shown as
// JSON text; tokens are shortened.

import { h, replace } from "./dom.js";
import { logTime, pretty } from "./format.js";

const KEEP = 2000; // entries kept
const SHOWN = 400; // rows in the DOM at most

export class EventLog {
  constructor() {
    this.entries = [];
    this.count = 0;
    this.listeners = new Set();
  }

  /** dir: in | out | sys; kind: event | ack | connect | engine | http | state | error. */
  add(dir, kind, name, data) {
    const entry = { n: ++this.count, at: new Date(), dir, kind, name, data, text: null };
    this.entries.push(entry);
    if (this.entries.length > KEEP) this.entries.splice(0, this.entries.length - KEEP);
    for (const listener of this.listeners) listener(entry);
    return entry;
  }

  clear() {
    this.entries = [];
    for (const listener of this.listeners) listener(null);
  }

  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

function entryText(entry) {
  if (entry.text === null) entry.text = pretty(entry.data);
  return entry.text;
}

const ARROWS = { in: "⇠", out: "⇢", sys: "•" };

/** The log panel: a filter, direction and ping/pong switches, and the rows, newest first. */
export class LogView {
  constructor(log) {
    this.log = log;
    this.filter = "";
    this.direction = "all";
    this.showPings = false;
    this.rows = h("ol", { class: "log-rows", "aria-live": "off" });
    this.counter = h("span", { class: "log-count muted" });
    const filterInput = h("input", {
      type: "search",
      class: "log-filter",
      placeholder: "Filter: message:new  -typing  room_id…",
      "aria-label": "Filter the event log",
      on: { input: (e) => this.setFilter(e.target.value) },
    });
    const direction = h(
      "select",
      { class: "log-direction", "aria-label": "Direction", on: { change: (e) => this.setDirection(e.target.value) } },
      h("option", { value: "all" }, "All"),
      h("option", { value: "in" }, "In ⇠"),
      h("option", { value: "out" }, "Out ⇢"),
      h("option", { value: "http" }, "REST"),
      h("option", { value: "sys" }, "Connection"),
    );
    const pings = h("label", { class: "check" },
      h("input", { type: "checkbox", on: { change: (e) => { this.showPings = e.target.checked; this.rebuild(); } } }),
      "ping/pong");
    const clear = h("button", { type: "button", class: "btn small", on: { click: () => log.clear() } }, "Clear");
    this.element = h("section", { class: "log-view" },
      h("div", { class: "log-tools" }, filterInput, direction, pings, clear, this.counter),
      this.rows);
    this.unsubscribe = log.subscribe((entry) => (entry ? this.added(entry) : this.rebuild()));
    this.rebuild();
  }

  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this.rebuild();
  }

  setDirection(value) {
    this.direction = value;
    this.rebuild();
  }

  matches(entry) {
    if (!this.showPings && entry.kind === "engine") return false;
    const direction = this.direction === "all" || (this.direction === "http"
      ? entry.kind === "http"
      : entry.kind !== "http" && entry.dir === this.direction);
    if (!direction) return false;
    if (!this.filter) return true;
    const haystack = `${entry.name}\n${entryText(entry)}`.toLowerCase();
    return this.filter.split(/\s+/).every((term) =>
      term.startsWith("-") && term.length > 1 ? !haystack.includes(term.slice(1)) : haystack.includes(term));
  }

  added(entry) {
    if (this.matches(entry)) {
      this.rows.prepend(this.row(entry));
      while (this.rows.childElementCount > SHOWN) this.rows.lastElementChild.remove();
    }
    this.count();
  }

  rebuild() {
    const shown = [];
    for (let i = this.log.entries.length - 1; i >= 0 && shown.length < SHOWN; i -= 1) {
      const entry = this.log.entries[i];
      if (this.matches(entry)) shown.push(this.row(entry));
    }
    replace(this.rows, shown);
    this.count();
  }

  count() {
    this.counter.textContent = `${this.rows.childElementCount} shown · ${this.log.entries.length} kept`;
  }

  row(entry) {
    const body = h("pre", { class: "log-json" });
    const details = h("details", { class: "log-entry" },
      h("summary", {},
        h("time", { class: "log-time" }, logTime(entry.at)),
        h("span", { class: `log-dir ${entry.dir}`, title: entry.dir }, entry.kind === "http" ? "⇄" : ARROWS[entry.dir]),
        h("span", { class: `log-name kind-${entry.kind}` }, entry.name),
        h("span", { class: "log-preview" }, preview(entry))),
      body);
    details.addEventListener("toggle", () => {
      if (details.open && !body.textContent) body.textContent = entryText(entry) || "(no payload)";
    });
    return h("li", { dataset: { dir: entry.dir, kind: entry.kind } }, details);
  }

  destroy() {
    this.unsubscribe();
  }
}

function preview(entry) {
  const text = entryText(entry).replace(/\s+/g, " ");
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
