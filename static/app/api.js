// The REST API, as one session calls it: its bearer token, and every call in its event log.

/** Where the canonical REST API lives (the root /api/... paths are the seed services'). */
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status ? `http_${status}` : "network_error");
    this.details = (body && body.details) || null;
  }
}

export class Api {
  constructor(log, token = null) {
    this.log = log;
    this.token = token;
  }

  async request(method, path, { json, form, query, auth = true } = {}) {
    let url = path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
      }
      if ([...params].length) url += `?${params}`;
    }
    const headers = { Accept: "application/json" };
    let body;
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    this.log.add("out", "http", `${method} ${url}`, json !== undefined ? json : form ? describeForm(form) : undefined);
    let response;
    try {
      response = await fetch(url, { method, headers, body, credentials: "omit", cache: "no-store" });
    } catch (error) {
      this.log.add("in", "http", `${method} ${url} failed`, String(error));
      throw new ApiError(0, { code: "network_error", error: "the server could not be reached" });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = text;
      }
    }
    this.log.add("in", "http", `${response.status} ${method} ${url}`, data === null ? undefined : data);
    if (!response.ok) throw new ApiError(response.status, data && typeof data === "object" ? data : null);
    return data;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }

  post(path, json) {
    return this.request("POST", path, { json });
  }

  delete(path) {
    return this.request("DELETE", path);
  }

  /** A development token for any user (DEV_MODE only: the route does not exist otherwise). */
  devToken(userId, name) {
    const json = { user_id: userId };
    if (name) json.name = name;
    return this.request("POST", `${API}/dev/token`, { json, auth: false });
  }

  upload(file) {
    const form = new FormData();
    form.append("file", file, file.name);
    return this.request("POST", `${API}/attachments`, { form });
  }
}

function describeForm(form) {
  const out = {};
  for (const [key, value] of form.entries()) {
    out[key] = value instanceof File ? { file: value.name, type: value.type, size: value.size } : value;
  }
  return out;
}
