// Small formatting helpers: times, sizes, statuses. Every result is plain text.

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function clock(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? timeFormat.format(date) : `${dayFormat.format(date)} ${timeFormat.format(date)}`;
}

export function logTime(date) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

export function ago(iso) {
  if (!iso) return "never seen";
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "seen just now";
  if (seconds < 3600) return `seen ${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `seen ${Math.floor(seconds / 3600)} h ago`;
  return `seen ${dayFormat.format(new Date(iso))}`;
}

export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

export const STATUSES = ["online", "away", "busy", "offline"];

/** Initials for an avatar: the first letters of the first two words (or the first two characters). */
export function initials(name) {
  const words = String(name || "?").trim().split(/\s+/u).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[1]].map((w) => [...w][0]) : [...(words[0] || "?")].slice(0, 2);
  return letters.join("").toUpperCase();
}

/** A stable hue for an id, for avatar colours. */
export function hue(id) {
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

export function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** JSON for the event log, with secrets left out. */
export function pretty(value) {
  if (value === undefined) return "";
  try {
    return JSON.stringify(redact(value), null, 2);
  } catch {
    return String(value);
  }
}

export function redact(value) {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    const out = {};
    for (const [key, v] of Object.entries(value)) out[key] = key === "token" && typeof v === "string" ? `${v.slice(0, 12)}…` : redact(v);
    return out;
  }
  return value;
}
