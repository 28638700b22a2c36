// Drives npm's `ws` WebSocket clients for the Python tests (tests/node.py), written the way the
// client documentation's examples are: `new WebSocket(url)` with onopen / onmessage / onclose / onerror.
//
// Protocol: one JSON command per line on stdin, one JSON report per line on stdout. Nothing else
// is ever written to stdout (diagnostics go to stderr). Every command names its client with `id`.
//
//   {"op":"open","id":"a","url":"ws://...","protocols":[...]}   new WebSocket(url, protocols)
//   {"op":"send","id":"a","data":<any JSON>}                     ws.send(JSON.stringify(data))
//   {"op":"send_text","id":"a","text":"..."}                     ws.send(text), as is
//   {"op":"send_binary","id":"a","base64":"..."}                 ws.send(bytes), a binary frame
//   {"op":"close","id":"a","code":1000,"reason":""}              ws.close(code, reason)
//   {"op":"exit"}                                                close everything, exit 0 (so does EOF)
//
// Every command is acknowledged once done, so the tests know a frame has left before they assert on
// its effects: {"id":"a","kind":"sent","op":"send","ref":7}, or, when it could not be done,
// {"id":"a","kind":"failed","op":"send","ref":7,"message":"..."}. `ref` is echoed from the command
// (any JSON value, optional): acknowledgements of different clients may come back out of order.
// A send is acknowledged when ws has written the frame to the socket (its send callback).
//
// What each client meets is reported as it happens:
//   {"id":"a","kind":"open"}
//   {"id":"a","kind":"message","data":<parsed JSON>}   a text frame holding JSON
//   {"id":"a","kind":"message","text":"..."}           a text frame that is not JSON
//   {"id":"a","kind":"message","binary":"<base64>"}    a binary frame
//   {"id":"a","kind":"refused","status":403,"body":"..."}  the upgrade was answered without a 101
//   {"id":"a","kind":"error","message":"..."}
//   {"id":"a","kind":"close","code":1006,"reason":""}  always the last report of a client

import { createInterface } from 'node:readline';
import WebSocket from 'ws';

const sockets = new Map();

function report(id, kind, fields = {}) {
  process.stdout.write(JSON.stringify({ id, kind, ...fields }) + '\n');
}

function acknowledge(command) {
  report(command.id, 'sent', { op: command.op, ref: command.ref });
}

function failed(command, error) {
  report(command.id, 'failed', { op: command.op, ref: command.ref, message: String(error?.message ?? error) });
}

function open(command) {
  const { id, url, protocols } = command;
  if (sockets.has(id)) throw new Error(`a client named ${JSON.stringify(id)} was already opened`);

  const ws = new WebSocket(url, protocols);
  // A browser's WebSocket hands binary frames over as Blob or ArrayBuffer, never as a Node Buffer.
  ws.binaryType = 'arraybuffer';
  sockets.set(id, ws);
  let refused = false;

  ws.onopen = () => report(id, 'open');

  ws.onmessage = (event) => {
    if (typeof event.data !== 'string') {
      report(id, 'message', { binary: Buffer.from(event.data).toString('base64') });
      return;
    }
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      report(id, 'message', { text: event.data });
      return;
    }
    report(id, 'message', { data });
  };

  ws.onclose = (event) => report(id, 'close', { code: event.code, reason: event.reason });

  ws.onerror = (event) => {
    // After a refusal the handshake is aborted by us (below); ws reports that abort as an error,
    // which would only repeat the refusal.
    if (!refused) report(id, 'error', { message: event.message });
  };

  // A server may refuse the upgrade with a plain HTTP answer (Phoenix answers 403). Browsers only
  // show a failed connection; ws hands the answer to this listener. While one listens, ws leaves the
  // handshake pending, so the listener must end it: read the answer, report it, then terminate(),
  // which closes the client (code 1006) as a browser would.
  ws.on('unexpected-response', (request, response) => {
    refused = true;
    let body = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      report(id, 'refused', { status: response.statusCode, body });
      ws.terminate();
    };
    response.setEncoding('utf8');
    response.on('data', (chunk) => (body += chunk));
    response.on('end', finish);
    response.on('close', finish);
    response.on('error', finish);
  });
}

function client(id) {
  const ws = sockets.get(id);
  if (!ws) throw new Error(`no client named ${JSON.stringify(id)} was opened`);
  return ws;
}

// Sends, then acknowledges once ws has written the frame (or says why it could not).
function send(command, payload) {
  client(command.id).send(payload, (error) => (error ? failed(command, error) : acknowledge(command)));
}

function exit() {
  for (const ws of sockets.values()) ws.terminate();
  process.exit(0);
}

const handlers = {
  open: (command) => {
    open(command);
    acknowledge(command);
  },
  send: (command) => send(command, JSON.stringify(command.data)),
  send_text: (command) => send(command, command.text),
  send_binary: (command) => send(command, Buffer.from(command.base64, 'base64')),
  close: (command) => {
    client(command.id).close(command.code, command.reason);
    acknowledge(command);
  },
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
  } catch (error) {
    console.error('ws_driver: not a JSON command:', line);
    return;
  }
  try {
    const handler = handlers[command.op];
    if (!handler) throw new Error(`unknown op ${JSON.stringify(command.op)}`);
    handler(command);
  } catch (error) {
    // e.g. an invalid URL or close code, or a send before the client is open (ws throws then).
    failed(command, error);
  }
}

createInterface({ input: process.stdin }).on('line', handle).on('close', exit);
