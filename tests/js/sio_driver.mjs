// Drives npm `socket.io-client` for the Python tests (tests/sio.py), written the way the seed services'
// documentation examples use it: `const socket = io(url, { query, auth, transports })`,
// `socket.on('connect' | 'connect_error' | 'disconnect', ...)`, `socket.emit(event, ...args)`,
// `socket.on(event, (...args) => ...)`. The client does its own Engine.IO handshake, polling-to-websocket
// upgrade, pings and reconnections, as it would in an app; this driver only tells it what the example
// does and reports what it meets.
//
// Protocol: one JSON command per line on stdin, one JSON report per line on stdout (nothing else is ever
// written to stdout; diagnostics go to stderr). Clients are named by `id`, unique in the process.
//
//   {"op":"connect","id":"a","url":"http://h:p/chat","options":{...},"share":"b"?}
//        io(url, {forceNew: true, ...options}): a Manager (one Engine.IO connection) of its own per client,
//        unless `share` names another client: then that client's Manager gives a socket for this URL's
//        namespace, `manager.socket(namespace, options)` (one connection, several namespaces: only the
//        socket's own options, like `auth`, apply). The namespace is the URL's path, kept as is:
//        io("ws://h:p/chat/") is namespace "/chat/". `options` are the client's own (query, auth,
//        transports, reconnection, reconnectionDelay, timeout, forceNew...), passed as given.
//   {"op":"emit","id":"a","event":"e","args":[...]}          socket.emit(event, ...args)
//   {"op":"emit","id":"a","event":"e","args":[...],"emit_id":"a#1","timeout_ms":5000}
//        socket.timeout(ms).emit(event, ...args, (err, ...responses) => ...): asks the server for an
//        acknowledgement, reported as "ack" (or "ack_timeout"); without timeout_ms, socket.emit(event,
//        ...args, (...responses) => ...), which waits for it forever
//   {"op":"answer","id":"a","ack":3,"args":[...]}
//        calls the callback the server asked for with event report "ack": 3, with `args` (once)
//   {"op":"disconnect","id":"a"}                             socket.disconnect()
//   {"op":"exit"}      disconnects every socket, then exits 0 a moment later (so does EOF), so that the
//                      server sees the clients leave (a polling client's close goes out as a POST)
//
// Binary values (Buffer, ArrayBuffer, typed arrays) travel as {"$binary": "<base64>"} both ways: in
// command args they become Buffers, in reports received ones are written so.
//
// Every command carries a `ref` (any JSON value) and is acknowledged once done, with
// {"kind":"sent","op":...,"ref":...}, or {"kind":"failed","op":...,"ref":...,"message":"..."} when it
// could not be done (no such client, a name taken, an answer given twice...). An emit is acknowledged
// once socket.emit() has returned: the packet is written to the transport, or buffered by the client
// until it connects (the examples emit right after io(), and so may the tests).
//
// Reports, as things happen:
//   {"id":"a","kind":"open","transport":"polling"}   the Manager opened an Engine.IO connection (manager
//        'open', at every (re)connection; not for a socket made on a shared Manager already open), with
//        the transport it opened with: with the default transports, polling, soon upgraded
//   {"id":"a","kind":"connect","sid":"...","transport":"websocket"}   socket.on('connect'); the Engine.IO
//        transport (socket.io.engine.transport.name) at that moment
//   {"id":"a","kind":"upgrade","transport":"websocket"}   the Engine.IO connection upgraded (engine 'upgrade')
//   {"id":"a","kind":"connect_error","message":"...","data":...,"type":"TransportError","description":"...",
//        "retrying":false}
//        socket.on('connect_error', err): err.message and err.data (the server's refusal: python-socketio's
//        ConnectionRefusedError("no", {"code": "x"}) gives message "no", data {"code": "x"}), and for a
//        transport failure err.type and err.description. `retrying` says whether the client will try
//        again by itself: false after a server's refusal (the client destroys the socket) or when the
//        Manager does not reconnect
//   {"id":"a","kind":"disconnect","reason":"io server disconnect","description":"..."?}
//        socket.on('disconnect', (reason, details) => ...)
//   {"id":"a","kind":"event","event":"e","args":[...],"ack":3?}
//        socket.onAny((event, ...args) => ...): every event received, with all its arguments. When the
//        server asked for an acknowledgement, the client hands a callback as the last argument: it is left
//        out of `args`, kept under the number `ack`, and called by the "answer" command (never by itself)
//   {"id":"a","kind":"ack","emit_id":"a#1","args":[...]}           the server's acknowledgement of an emit
//   {"id":"a","kind":"ack_timeout","emit_id":"a#1","message":"operation has timed out"}
//   {"id":"a","kind":"manager","event":"reconnect_attempt","attempt":1}
//        the socket's Manager (socket.io): reconnect_attempt, reconnect, reconnect_error, reconnect_failed

import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';

const sockets = new Map();
const answers = new Map(); // client name -> Map(ack number -> the server's callback)
let acks = 0;

function write(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

function acknowledge(command) {
  write({ kind: 'sent', op: command.op, ref: command.ref });
}

function failed(command, error) {
  write({ kind: 'failed', op: command.op, ref: command.ref, message: String(error?.message ?? error) });
}

function named(name) {
  const socket = sockets.get(name);
  if (!socket) throw new Error(`no client named ${JSON.stringify(name)}`);
  return socket;
}

// What was received, as JSON: binary values as {"$binary": base64}.
function outward(value) {
  if (Buffer.isBuffer(value)) return { $binary: value.toString('base64') };
  if (value instanceof ArrayBuffer) return { $binary: Buffer.from(value).toString('base64') };
  if (ArrayBuffer.isView(value)) {
    return { $binary: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  }
  if (Array.isArray(value)) return value.map(outward);
  if (value && typeof value === 'object' && value.constructor === Object) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, outward(item)]));
  }
  return value;
}

// What a command gives to send: {"$binary": base64} as a Buffer.
function inward(value) {
  if (Array.isArray(value)) return value.map(inward);
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$binary') return Buffer.from(value.$binary, 'base64');
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, inward(item)]));
  }
  return value;
}

function describe(value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.message || String(value);
  if (value?.message !== undefined) return String(value.message);
  if (value?.description !== undefined) return describe(value.description);
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

// Reports the upgrades of an Engine.IO connection (the Manager makes a new one at every (re)connection).
function watchEngine(id, engine, watched) {
  if (!engine || watched.has(engine)) return;
  watched.add(engine);
  engine.on('upgrade', (transport) => write({ id, kind: 'upgrade', transport: transport.name }));
}

function connect({ id, url, options = {}, share }) {
  if (sockets.has(id)) throw new Error(`a client named ${JSON.stringify(id)} already exists`);
  let socket;
  if (share === undefined || share === null) {
    socket = io(url, { forceNew: true, ...options });
  } else {
    const manager = named(share).io;
    const target = new URL(url);
    const origin = new URL(manager.uri);
    if (target.host !== origin.host) {
      throw new Error(`${url} is not on ${share}'s server (${manager.uri}): a Manager is one connection`);
    }
    socket = manager.socket(target.pathname, options);
  }
  sockets.set(id, socket);
  answers.set(id, new Map());

  const manager = socket.io;
  const watched = new WeakSet();
  watchEngine(id, manager.engine, watched);
  manager.on('open', () => {
    watchEngine(id, manager.engine, watched);
    write({ id, kind: 'open', transport: manager.engine.transport.name });
  });
  manager.on('reconnect_attempt', (attempt) => write({ id, kind: 'manager', event: 'reconnect_attempt', attempt }));
  manager.on('reconnect', (attempt) => write({ id, kind: 'manager', event: 'reconnect', attempt }));
  manager.on('reconnect_error', (error) =>
    write({ id, kind: 'manager', event: 'reconnect_error', message: describe(error) })
  );
  manager.on('reconnect_failed', () => write({ id, kind: 'manager', event: 'reconnect_failed' }));

  socket.on('connect', () => {
    watchEngine(id, manager.engine, watched);
    write({ id, kind: 'connect', sid: socket.id, transport: manager.engine?.transport?.name });
  });

  socket.on('connect_error', (err) => {
    write({
      id,
      kind: 'connect_error',
      message: err?.message,
      data: outward(err?.data),
      type: err?.type,
      description: describe(err?.description),
      retrying: socket.active && manager.reconnection()
    });
  });

  socket.on('disconnect', (reason, details) => {
    write({ id, kind: 'disconnect', reason, description: describe(details?.description ?? details) });
  });

  socket.onAny((event, ...args) => {
    let ack;
    if (typeof args.at(-1) === 'function') {
      ack = ++acks;
      answers.get(id).set(ack, args.pop());
    }
    write({ id, kind: 'event', event, args: outward(args), ack });
  });
}

function emit({ id, event, args = [], emit_id, timeout_ms }) {
  const socket = named(id);
  const values = inward(args);
  if (emit_id === undefined) {
    socket.emit(event, ...values);
  } else if (timeout_ms === undefined || timeout_ms === null) {
    socket.emit(event, ...values, (...responses) => write({ id, kind: 'ack', emit_id, args: outward(responses) }));
  } else {
    socket.timeout(timeout_ms).emit(event, ...values, (err, ...responses) => {
      if (err) write({ id, kind: 'ack_timeout', emit_id, message: describe(err) });
      else write({ id, kind: 'ack', emit_id, args: outward(responses) });
    });
  }
}

function answer({ id, ack, args = [] }) {
  named(id);
  const callback = answers.get(id).get(ack);
  if (!callback) throw new Error(`${id} has no unanswered server callback ${JSON.stringify(ack)}`);
  answers.get(id).delete(ack);
  callback(...inward(args));
}

let exiting = false;

function exit() {
  if (exiting) return;
  exiting = true;
  for (const socket of sockets.values()) socket.disconnect();
  setTimeout(() => process.exit(0), 150);
}

const handlers = {
  connect,
  emit,
  answer,
  disconnect: ({ id }) => named(id).disconnect(),
  exit
};

function handle(line) {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    console.error('sio_driver: not a JSON command:', line);
    return;
  }
  try {
    const handler = handlers[command.op];
    if (!handler) throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    handler(command);
    acknowledge(command);
  } catch (error) {
    failed(command, error);
  }
}

createInterface({ input: process.stdin }).on('line', handle).on('close', exit);
