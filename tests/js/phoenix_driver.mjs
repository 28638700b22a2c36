// Drives the official `phoenix` JavaScript client for the Python tests (tests/phoenix.py), written the
// way its documentation's example is: `new Socket(endpoint, {params, transport: WS})`, `socket.connect()`,
// `socket.channel(topic, params)`, `channel.join(timeout).receive("ok" | "error" | "timeout", ...)`,
// `channel.push(event, payload).receive(...)`, `channel.leave()`. The client does its own heartbeats,
// reconnections and rejoins, as it would in an app; this driver only watches and reports.
//
// Protocol: one JSON command per line on stdin, one JSON report per line on stdout (nothing else is
// ever written to stdout; diagnostics, and the client's log with the socket option "log": true, go to
// stderr). Sockets are named by `id`, channels by `channel` (names unique in the process).
//
//   {"op":"socket","id":"s","endpoint":"ws://h:p/socket","params":{...},"options":{...}}
//        new Socket(endpoint, {params, transport: WS, ...options}). options are the client's own
//        (heartbeatIntervalMs, timeout, vsn...), except: reconnectAfterMs and rejoinAfterMs are one
//        constant delay in ms (the client wants a function of the try count), and "log": true logs.
//        The client appends "/websocket" to the endpoint, and the params and vsn=2.0.0 as a query.
//   {"op":"connect","id":"s"}                            socket.connect()
//   {"op":"disconnect","id":"s","code":4000,"reason":""} socket.disconnect(callback, code, reason);
//                                                        acknowledged from the callback, once closed
//   {"op":"channel","id":"s","channel":"c","topic":"chat:1","params":{...}}   socket.channel(topic, params)
//        params {"$lastSeq": "<channel name>"} is a closure, evaluated at every (re)join:
//        {since_seq: the highest numeric `seq` of the receive_message payloads that channel has
//        seen, or 0}
//   {"op":"join","channel":"c","timeout_ms":5000}       channel.join(timeout)
//   {"op":"push","channel":"c","event":"e","payload":{...},"timeout_ms":5000,"push_id":"p1"}
//                                                        channel.push(event, payload, timeout)
//   {"op":"leave","channel":"c","timeout_ms":5000}      channel.leave(timeout)
//        (timeout_ms, not timeout: NodeDriver.command takes `timeout` as its own wait; without it the
//        client's default applies: the socket's `timeout` option, 10 s unless set)
//   {"op":"exit"}                                        exit 0 (so does EOF); the OS closes the sockets
//
// Every command carries a `ref` (any JSON value) and is acknowledged once done, with
// {"kind":"sent","op":...,"ref":...}, or {"kind":"failed","op":...,"ref":...,"message":"..."} when the
// client threw (a second join of a channel, a push before join...) or the command was malformed.
//
// Reports, as things happen:
//   {"id":"s","kind":"open"}                                          socket.onOpen
//   {"id":"s","kind":"close","code":1000,"reason":"","wasClean":true} socket.onClose (every connection)
//   {"id":"s","kind":"error","message":"...","status":403}            socket.onError
//   {"id":"s","kind":"frame","data":[join_ref, ref, topic, event, payload]}
//        socket.onMessage: every message the socket receives (heartbeat replies too), decoded by the
//        client's V2 serializer and reported as the wire's array
//   {"id":"s","kind":"outgoing","text":"[...]"}   (or "base64":"..." for a binary one)
//        every frame the client writes to its connection (heartbeats, joins, rejoins, pushes, leaves),
//        exactly as written, when it writes it: the transport is `ws` with its send() watched
//   {"channel":"c","kind":"event","event":"e","payload":...,"ref":...,"join_ref":...}
//        channel.onMessage, the client's hook that sees every event the channel triggers: the server's
//        (phx_reply, pushes, broadcasts, phx_error, phx_close) and the client's own: phx_error
//        {source: "transport"} when the connection drops, phx_close "leave" on leave, and
//        chan_reply_<ref>, the client re-dispatching a reply (or a push's timeout) to its Push
//   {"channel":"c","kind":"channel_close","payload":...}              channel.onClose
//   {"channel":"c","kind":"channel_error","reason":...}               channel.onError
//   {"channel":"c","kind":"join","status":"ok"|"error"|"timeout","response":...}
//        the join Push's receive hooks. The channel keeps one join Push and resends it on every
//        rejoin (at once when the socket reopens after a drop; after a join error or timeout, on the
//        rejoinAfterMs schedule: 1 s, 2 s, 5 s, then 10 s by default), and the hooks stay registered,
//        so there is one report per join attempt answered or timed out
//   {"channel":"c","kind":"reply","push_id":"p1","status":"ok"|"error"|"timeout","response":...}
//   {"channel":"c","kind":"leave","status":"ok","response":{}}
//        phoenix 1.8.17 answers a leave itself, at once: leave() marks the channel leaving before it
//        asks whether it can push, so it always triggers "ok" locally (after sending phx_leave when
//        connected), closes the channel and never sees the server's reply
//
// A refused upgrade (the server answers the GET with, say, 403 instead of 101): the phoenix client
// sees only what a browser's WebSocket would, an error then a close. With `transport: WS`, ws gives
// the error as an ErrorEvent whose message is "Unexpected server response: 403", so the status is in
// the message, and the driver copies it to the error report's `status` (ws hands over no body, no
// headers, and no status field: the driver reads the message). The close that follows is code 1006,
// reason "", wasClean false. The client then reconnects on its reconnectAfterMs schedule (10 ms,
// 50 ms, ... by default), each attempt reporting error + close again, until the test disconnects.

import { createInterface } from 'node:readline';
import { Socket } from 'phoenix';
import WS from 'ws';

const sockets = new Map();
const channels = new Map();
const lastSeq = new Map(); // channel name -> highest receive_message seq it has seen

function write(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

function acknowledge(command) {
  write({ kind: 'sent', op: command.op, ref: command.ref });
}

function failed(command, error) {
  write({ kind: 'failed', op: command.op, ref: command.ref, message: String(error?.message ?? error) });
}

function named(map, what, name) {
  const found = map.get(name);
  if (!found) throw new Error(`no ${what} named ${JSON.stringify(name)}`);
  return found;
}

// The HTTP status of a refused upgrade, as ws words it in its error: "Unexpected server response: 403".
function refusedStatus(message) {
  const match = /^Unexpected server response: (\d{3})$/.exec(message ?? '');
  return match ? Number(match[1]) : undefined;
}

function constantDelay(ms) {
  return typeof ms === 'number' ? () => ms : ms;
}

// npm `ws`, reporting every frame the client writes with it as socket `id`'s.
function watchedTransport(id) {
  return class extends WS {
    send(data, ...rest) {
      if (typeof data === 'string') write({ id, kind: 'outgoing', text: data });
      else write({ id, kind: 'outgoing', base64: Buffer.from(data).toString('base64') });
      return super.send(data, ...rest);
    }
  };
}

function openSocket({ id, endpoint, params, options = {} }) {
  if (sockets.has(id)) throw new Error(`a socket named ${JSON.stringify(id)} already exists`);
  const { reconnectAfterMs, rejoinAfterMs, log, ...rest } = options;
  const socket = new Socket(endpoint, {
    ...rest,
    params: params ?? {},
    transport: watchedTransport(id),
    reconnectAfterMs: constantDelay(reconnectAfterMs),
    rejoinAfterMs: constantDelay(rejoinAfterMs),
    logger: log ? (kind, msg, data) => console.error(`phoenix ${id} ${kind}: ${msg}`, JSON.stringify(data) ?? '') : null
  });

  socket.onOpen(() => write({ id, kind: 'open' }));
  socket.onClose(({ code, reason, wasClean }) => write({ id, kind: 'close', code, reason, wasClean }));
  socket.onError((error) => {
    const message = String(error?.message ?? error?.error?.message ?? error);
    write({ id, kind: 'error', message, status: refusedStatus(message) });
  });
  socket.onMessage(({ join_ref, ref, topic, event, payload }) =>
    write({ id, kind: 'frame', data: [join_ref, ref, topic, event, payload] })
  );
  sockets.set(id, socket);
}

function channelParams(params) {
  const source = params?.['$lastSeq'];
  if (source === undefined) return params ?? {};
  return () => ({ since_seq: lastSeq.get(source) ?? 0 });
}

function openChannel({ id, channel: name, topic, params }) {
  if (channels.has(name)) throw new Error(`a channel named ${JSON.stringify(name)} already exists`);
  const channel = named(sockets, 'socket', id).channel(topic, channelParams(params));

  channel.onMessage = (event, payload, ref, joinRef) => {
    if (event === 'receive_message' && typeof payload?.seq === 'number') {
      lastSeq.set(name, Math.max(lastSeq.get(name) ?? 0, payload.seq));
    }
    write({ channel: name, kind: 'event', event, payload, ref: ref ?? null, join_ref: joinRef ?? null });
    return payload;
  };
  channel.onClose((payload) => write({ channel: name, kind: 'channel_close', payload }));
  channel.onError((reason) => write({ channel: name, kind: 'channel_error', reason }));
  channels.set(name, channel);
}

// Reports every answer (or timeout) of a Push as `kind`, with `fields`.
function watch(push, name, kind, fields = {}) {
  for (const status of ['ok', 'error', 'timeout']) {
    push.receive(status, (response) => write({ channel: name, kind, ...fields, status, response }));
  }
}

function exit() {
  process.exit(0);
}

const handlers = {
  socket: openSocket,
  connect: ({ id }) => named(sockets, 'socket', id).connect(),
  disconnect: (command) => {
    named(sockets, 'socket', command.id).disconnect(() => acknowledge(command), command.code, command.reason);
    return 'later';
  },
  channel: openChannel,
  join: ({ channel: name, timeout_ms }) => watch(named(channels, 'channel', name).join(timeout_ms), name, 'join'),
  push: ({ channel: name, event, payload, timeout_ms, push_id }) =>
    watch(named(channels, 'channel', name).push(event, payload, timeout_ms), name, 'reply', { push_id }),
  leave: ({ channel: name, timeout_ms }) =>
    watch(named(channels, 'channel', name).leave(timeout_ms), name, 'leave'),
  exit: (command) => {
    acknowledge(command);
    exit();
  }
};

function handle(line) {
  if (!line.trim()) return;
  let command;
  try {
    command = JSON.parse(line);
  } catch {
    console.error('phoenix_driver: not a JSON command:', line);
    return;
  }
  try {
    const handler = handlers[command.op];
    if (!handler) throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    if (handler(command) !== 'later' && command.op !== 'exit') acknowledge(command);
  } catch (error) {
    failed(command, error);
  }
}

createInterface({ input: process.stdin }).on('line', handle).on('close', exit);
