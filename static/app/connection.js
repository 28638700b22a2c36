// One Socket.IO connection (its own Engine.IO socket: `forceNew`, never shared with another session of
// the page), every frame of it logged, and client events called with their acknowledgement.

const PACKET_TYPES = ["connect", "disconnect", "event", "ack", "connect_error", "binary_event", "binary_ack"];
export const CALL_TIMEOUT = 10000;

export class AckError extends Error {
  constructor(error) {
    super((error && error.message) || "failed");
    this.code = (error && error.code) || "error";
    this.details = (error && error.details) || null;
  }
}

export class Connection {
  /** options: {token, transport: "websocket" | "polling", log, onEvent(name, data, ack), onState(state, detail)} */
  constructor({ token, transport, log, onEvent, onState }) {
    if (typeof window.io !== "function") throw new Error("the Socket.IO client did not load (static/vendor)");
    this.log = log;
    this.onEvent = onEvent;
    this.onState = onState;
    this.sentIds = new Map(); // ack id of an event we sent -> its name
    this.receivedIds = new Map(); // ack id of an event we received -> its name
    this.state = "idle";
    this.socket = window.io({
      path: "/socket.io",
      auth: { token },
      transports: transport === "polling" ? ["polling", "websocket"] : ["websocket"],
      forceNew: true,
      autoConnect: false,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10000,
    });
    const manager = this.socket.io;
    // Registered before the socket connects, so the engine is hooked before the CONNECT packet goes out.
    manager.on("open", () => this.hook(manager.engine));
    manager.on("reconnect_attempt", (attempt) => this.setState("reconnecting", `attempt ${attempt}`));
    manager.on("reconnect_failed", () => this.setState("disconnected", "gave up reconnecting"));
    this.socket.on("connect", () => this.setState("connected", this.transport()));
    this.socket.on("disconnect", (reason) => {
      this.setState(this.socket.active ? "reconnecting" : "disconnected", reason);
    });
    this.socket.on("connect_error", (error) => {
      const data = error && error.data;
      const detail = data && data.code ? `${data.code}: ${data.message || error.message}` : error.message;
      this.log.add("sys", "state", "connect_error", data || error.message);
      this.setState(this.socket.active ? "reconnecting" : "refused", detail);
    });
    this.socket.onAny((name, ...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      this.onEvent(name, args[0], ack);
    });
  }

  connect() {
    this.setState("connecting", "");
    this.socket.connect();
  }

  disconnect() {
    this.socket.disconnect();
  }

  /** Drop the connection and open a new one (what a network change does). */
  reconnect() {
    this.log.add("sys", "state", "reconnect (by hand)", undefined);
    this.socket.disconnect();
    this.connect();
  }

  close() {
    this.socket.off();
    this.socket.io.off();
    this.socket.disconnect();
  }

  get connected() {
    return this.socket.connected;
  }

  transport() {
    const engine = this.socket.io.engine;
    return engine && engine.transport ? engine.transport.name : "";
  }

  setState(state, detail) {
    this.state = state;
    this.log.add("sys", "state", state, detail || undefined);
    this.onState(state, detail || "");
  }

  /** Emit a client event and resolve with the acknowledgement's data (reject with an AckError). */
  call(event, payload, timeout = CALL_TIMEOUT) {
    if (!this.socket.connected) return Promise.reject(new AckError({ code: "not_connected", message: "not connected" }));
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeout).emit(event, payload, (error, answer) => {
        if (error) reject(new AckError({ code: "timeout", message: `${event}: no answer within ${timeout / 1000} s` }));
        else if (answer && answer.ok) resolve(answer.data);
        else reject(new AckError(answer && answer.error));
      });
    });
  }

  hook(engine) {
    this.log.add("sys", "state", "engine open", { sid: engine.id, transport: engine.transport && engine.transport.name });
    engine.on("packet", (packet) => this.frame("in", packet));
    engine.on("packetCreate", (packet) => this.frame("out", packet));
    engine.on("upgrade", (transport) => {
      this.log.add("sys", "state", `upgraded to ${transport.name}`, undefined);
      if (this.socket.connected) this.onState(this.state, transport.name);
    });
  }

  /** Log one Engine.IO packet, decoding the Socket.IO packet a message carries. */
  frame(dir, packet) {
    if (packet.type !== "message") {
      this.log.add(dir, "engine", packet.type, packet.data === undefined || packet.data === "" ? undefined : packet.data);
      return;
    }
    if (typeof packet.data !== "string") {
      this.log.add(dir, "event", "binary frame", { bytes: packet.data.byteLength });
      return;
    }
    let decoded;
    try {
      decoded = decode(packet.data);
    } catch {
      this.log.add(dir, "event", "undecodable frame", packet.data);
      return;
    }
    const { type, id, payload } = decoded;
    const kind = PACKET_TYPES[type] || `type ${type}`;
    if (kind === "event" || kind === "binary_event") {
      const [name, ...args] = Array.isArray(payload) ? payload : ["?"];
      if (id !== null) (dir === "out" ? this.sentIds : this.receivedIds).set(id, name);
      this.log.add(dir, "event", id === null ? String(name) : `${name} #${id}`, args.length <= 1 ? args[0] : args);
    } else if (kind === "ack" || kind === "binary_ack") {
      const ids = dir === "in" ? this.sentIds : this.receivedIds;
      const name = ids.get(id) || "?";
      ids.delete(id);
      const args = Array.isArray(payload) ? payload : [];
      this.log.add(dir, "ack", `ack ${name} #${id}`, args.length <= 1 ? args[0] : args);
    } else {
      this.log.add(dir, "connect", kind, payload);
    }
  }
}

/** A Socket.IO packet in its text encoding: <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]. */
export function decode(text) {
  const type = Number(text[0]);
  let i = 1;
  if (type === 5 || type === 6) i = text.indexOf("-", i) + 1;
  if (text[i] === "/") {
    const comma = text.indexOf(",", i);
    i = comma === -1 ? text.length : comma + 1;
  }
  let digits = "";
  while (i < text.length && text[i] >= "0" && text[i] <= "9") digits += text[i++];
  const payload = i < text.length ? JSON.parse(text.slice(i)) : undefined;
  return { type, id: digits ? Number(digits) : null, payload };
}
