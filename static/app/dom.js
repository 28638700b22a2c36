// Building the DOM without HTML strings: every text is a text node, every attribute goes through
// setAttribute, and event handlers are functions. Nothing here parses markup, so no string a user
// sends (content, names, file names, error messages) can ever become an element or a script.
// The page's Content-Security-Policy also requires Trusted Types, so an innerHTML assignment
// anywhere would throw rather than render.

const PROPERTIES = new Set(["value", "checked", "disabled", "hidden", "selected", "multiple", "open", "indeterminate"]);

/** h("button", {class: "x", on: {click: fn}}, "text", child) -> the element. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "on") for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === "dataset") for (const [name, v] of Object.entries(value)) el.dataset[name] = String(v);
    else if (key === "text") el.textContent = String(value);
    else if (key === "href" || key === "src") el.setAttribute(key, safeUrl(value));
    else if (/^on/i.test(key) || key === "style" || key === "srcdoc") throw new Error(`h(): refusing attribute ${key}`);
    else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children: nodes as they are, anything else as text. Arrays are flattened; null/false skipped. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** A URL safe to put in href/src: same-origin http(s), or a blob: the page made itself. */
export function safeUrl(value) {
  const text = String(value);
  try {
    const url = new URL(text, location.href);
    if (url.protocol === "blob:" && text.startsWith(`blob:${location.origin}/`)) return text;
    if (url.origin === location.origin && (url.protocol === "http:" || url.protocol === "https:")) return url.href;
  } catch {
    // fall through
  }
  return "about:blank";
}

/** The first element matching `selector` under `root`. */
export const $ = (root, selector) => root.querySelector(selector);
