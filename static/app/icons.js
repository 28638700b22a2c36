// Line icons drawn as inline SVG (built with createElementNS: no markup is parsed), so the page's chrome
// looks the same whatever fonts the machine has.

const SVG = "http://www.w3.org/2000/svg";

const PATHS = {
  chat: ["M4 5h16v11H9l-5 4z"],
  refresh: ["M20 12a8 8 0 1 1-2.34-5.66", "M20 4v5h-5"],
  power: ["M12 3v8", "M6.34 7.34a8 8 0 1 0 11.32 0"],
  logout: ["M14 4h5v16h-5", "M10 8l-4 4 4 4", "M6 12h10"],
  clip: ["M20.5 11.5l-8.2 8.2a5 5 0 0 1-7.1-7.1l8.2-8.2a3.3 3.3 0 0 1 4.7 4.7l-8.2 8.2a1.7 1.7 0 0 1-2.4-2.4l7.5-7.5"],
  reply: ["M9 14l-5-5 5-5", "M4 9h10a6 6 0 0 1 6 6v4"],
  smile: ["M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z", "M8 14.5s1.5 2 4 2 4-2 4-2", "M9 9.5h.01", "M15 9.5h.01"],
  edit: ["M4 20h4L19 9l-4-4L4 16z", "M13.5 6.5l4 4"],
  trash: ["M4 7h16", "M10 11v6", "M14 11v6", "M6 7l1 13h10l1-13", "M9 7V4h6v3"],
  star: ["M12 3.5l2.6 5.4 5.9.8-4.3 4.1 1 5.8L12 16.8l-5.2 2.8 1-5.8-4.3-4.1 5.9-.8z"],
  back: ["M15 18l-6-6 6-6"],
  close: ["M6 6l12 12", "M18 6L6 18"],
  file: ["M14 3H6v18h12V7z", "M14 3v4h4"],
  send: ["M4 12l16-8-6 16-2.5-6.5z"],
  users: ["M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z", "M2 21v-1a6 6 0 0 1 12 0v1", "M16 3.5a4 4 0 0 1 0 7", "M22 21v-1a6 6 0 0 0-4-5.6"],
};

/** An icon element (aria-hidden: the control around it carries the name). */
export function icon(name, extraClass = "") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `i i-${name} ${extraClass}`.trim());
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of PATHS[name] || []) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}
