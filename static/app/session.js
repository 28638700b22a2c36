// One signed-in user of the page: their token, their own Socket.IO connection, what the server told them
// (rooms, people, favorites, notifications, the open room's timeline), and every action the page offers.
// The view (pane.js) draws this state and calls the actions; this module never touches the DOM.

import { API, Api } from "./api.js";
import { Connection } from "./connection.js";
import { EventLog } from "./log.js";

export const PAGE_SIZE = 30;
const TYPING_REPEAT_MS = 1000; // typing:start again while typing (the server throttles its broadcasts)
const LIVE_NOTIFICATIONS_KEPT = 50;

/** The open room's messages by seq, the other members' read cursors and who is typing. */
export class Timeline {
  constructor(roomId) {
    this.roomId = roomId;
    this.messages = new Map(); // seq -> message
    this.hasOlder = false;
    this.loaded = false;
    this.loadingOlder = false;
    this.reads = new Map(); // user id -> read seq (from receipt:read)
    this.typing = new Map(); // user id -> timer
    this.sending = new Map(); // client_ref -> {payload, error}
    this.myRead = null;
    this.changesCursor = null;
  }

  /** Keep each message at its highest version; returns the messages that changed what is shown. */
  merge(messages) {
    const changed = [];
    for (const message of messages || []) {
      const held = this.messages.get(message.seq);
      if (held && newer(held.version, message.version)) continue;
      this.messages.set(message.seq, message);
      changed.push(message);
    }
    return changed;
  }

  seqs() {
    return [...this.messages.keys()].sort((a, b) => a - b);
  }

  minSeq() {
    const seqs = this.seqs();
    return seqs.length ? seqs[0] : null;
  }

  maxSeq() {
    const seqs = this.seqs();
    return seqs.length ? seqs[seqs.length - 1] : 0;
  }

  byId(id) {
    for (const message of this.messages.values()) if (message.id === id) return message;
    return null;
  }
}

/** Whether version `a` is higher than `b` (decimal strings of 64-bit numbers). */
function newer(a, b) {
  try {
    return BigInt(a || "0") > BigInt(b || "0");
  } catch {
    return false;
  }
}

export function clientRef() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // pages served over plain http on a LAN
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const path = (...parts) => parts.map((p) => encodeURIComponent(p)).join("/");

export class Session {
  constructor(label) {
    this.label = label; // "a" or "b": which pane, for the saved sign-in
    this.log = new EventLog();
    this.api = new Api(this.log);
    this.view = null; // set by the pane
    this.connection = null;
    this.clear();
  }

  clear() {
    this.user = null;
    this.token = null;
    this.status = "online";
    this.connState = "idle";
    this.connDetail = "";
    this.ready = false;
    this.rooms = new Map(); // id -> room view
    this.people = new Map(); // user id -> person
    this.favorites = []; // [{type, id, name}]
    this.members = new Map(); // room id -> [member]
    this.current = null; // the open room's id
    this.timeline = null;
    this.pending = []; // stored notifications (notification:pending / REST)
    this.pendingAck = null; // the notification:pending event's acknowledgement callback
    this.live = []; // notification:new
    this.alertMessages = new Map(); // message id -> the message as it is now (Alerts show edits and deletes)
    this.replyTo = null;
    this.attachment = null; // {file, preview, uploading, ...upload answer}
    this.search = { q: "", roomOnly: false, hits: [], next: null, busy: false, done: false };
    this.lastTypingAt = 0;
    this.comeBackIn = null; // ms, from server:shutdown
  }

  // -- signing in and out ---------------------------------------------------------------------------

  storageKey() {
    return `chat-test-page:${this.label}`;
  }

  /** Sign in with a fresh development token (DEV_MODE). */
  async signInDev(userId, name, transport) {
    const answer = await this.api.devToken(userId, name);
    await this.signInToken(answer.token, transport);
  }

  /** Sign in with a token: checked over REST first (GET /api/v1/me), then the connection opens. */
  async signInToken(token, transport) {
    token = token.trim().replace(/^bearer\s+/i, "");
    this.api.token = token;
    try {
      this.user = await this.api.get(`${API}/me`);
    } catch (error) {
      this.api.token = null;
      throw error;
    }
    this.token = token;
    this.transport = transport;
    try {
      sessionStorage.setItem(this.storageKey(), JSON.stringify({ token, transport }));
    } catch {
      // storage may be off; signing in still works
    }
    this.connection = new Connection({
      token,
      transport,
      log: this.log,
      onEvent: (name, data, ack) => this.onEvent(name, data, ack),
      onState: (state, detail) => this.onState(state, detail),
    });
    this.view.signedIn();
    this.connection.connect();
  }

  saved() {
    try {
      return JSON.parse(sessionStorage.getItem(this.storageKey()) || "null");
    } catch {
      return null;
    }
  }

  signOut() {
    if (this.connection) this.connection.close();
    this.connection = null;
    this.api.token = null;
    try {
      sessionStorage.removeItem(this.storageKey());
    } catch {
      // nothing saved
    }
    if (this.attachment && this.attachment.preview) URL.revokeObjectURL(this.attachment.preview);
    this.clear();
    this.view.signedOut();
  }

  onState(state, detail) {
    this.connState = state;
    this.connDetail = detail;
    if (state !== "connected") this.ready = false;
    // A node that stops says when to come back (server:shutdown), then closes the connection, which
    // Socket.IO does not reopen by itself: reconnect after the delay it gave (to another node, behind a balancer).
    if (state === "disconnected" && detail === "io server disconnect" && this.comeBackIn !== null) {
      const delay = this.comeBackIn;
      this.comeBackIn = null;
      setTimeout(() => this.connection && !this.connection.connected && this.connection.connect(), delay);
    }
    this.view.connectionChanged();
  }

  // -- what the server sends ------------------------------------------------------------------------

  onEvent(name, data, ack) {
    const handler = HANDLERS[name];
    if (handler) handler.call(this, data || {}, ack);
  }

  nameOf(userId) {
    if (!userId) return "";
    if (this.user && userId === this.user.id) return this.user.name || userId;
    const person = this.people.get(userId);
    if (person && person.name) return person.name;
    for (const members of this.members.values()) {
      const member = members.find((m) => m.user_id === userId);
      if (member && member.name) return member.name;
    }
    for (const room of this.rooms.values()) {
      if (room.peer && room.peer.user_id === userId && room.peer.name) return room.peer.name;
    }
    return userId;
  }

  roomTitle(room) {
    if (!room) return "";
    if (room.type === "group") return room.name || `Room ${room.id}`;
    if (room.peer && this.user && room.peer.user_id !== this.user.id) return this.nameOf(room.peer.user_id);
    return "Notes to self";
  }

  /** Who wrote a message and where, for a list (alerts, search hits): [who, where]. A direct room is named
   * after the other person, so it is not "Alice in Alice": her message there is "Alice · direct message",
   * mine "You, to Alice". */
  whoAndWhere(senderId, roomId) {
    const room = this.rooms.get(roomId);
    const mine = !!(this.user && senderId === this.user.id);
    const who = mine ? "You" : this.nameOf(senderId);
    if (!room) return [who, ` in room ${roomId}`];
    if (room.type !== "direct") return [who, ` in ${this.roomTitle(room)}`];
    const peer = this.peerOf(room);
    if (!peer) return [who, " · notes to self"];
    return mine ? [who, `, to ${this.nameOf(peer)}`] : senderId === peer ? [who, " · direct message"] : [who, ` in ${this.roomTitle(room)}`];
  }

  peerOf(room) {
    return room && room.type === "direct" && room.peer && this.user && room.peer.user_id !== this.user.id
      ? room.peer.user_id
      : null;
  }

  presenceOf(userId) {
    if (this.user && userId === this.user.id) return this.status;
    const person = this.people.get(userId);
    return person ? person.status : "offline";
  }

  isFavorite(type, id) {
    return this.favorites.some((f) => f.type === type && f.id === id);
  }

  sortedRooms() {
    const activity = (room) => (room.last_message ? room.last_message.created_at : room.created_at) || "";
    return [...this.rooms.values()].sort((a, b) => activity(b).localeCompare(activity(a)));
  }

  totalUnread() {
    let total = 0;
    for (const room of this.rooms.values()) total += room.unread_count || 0;
    return total;
  }

  isOwner(room) {
    return !!(room && this.user && room.owner_id === this.user.id);
  }

  setRoom(view) {
    const held = this.rooms.get(view.id) || {};
    const room = { ...held, ...view };
    delete room.members;
    if (view.members) this.members.set(view.id, view.members);
    this.rooms.set(view.id, room);
    return room;
  }

  // -- rooms ----------------------------------------------------------------------------------------

  async openRoom(roomId) {
    if (this.current === roomId && this.timeline) {
      this.view.showChat();
      this.markRead();
      return;
    }
    const previous = this.current;
    if (previous) {
      this.stopTyping();
      this.call("room:leave", { room_id: previous }).catch(() => {});
    }
    this.current = roomId;
    this.timeline = new Timeline(roomId);
    const room = this.rooms.get(roomId);
    this.timeline.myRead = room ? Math.max(0, (room.last_seq || 0) - (room.unread_count || 0)) : 0;
    this.replyTo = null;
    this.view.roomOpened();
    try {
      await this.join();
      const page = await this.api.get(`${API}/rooms/${path(roomId)}/messages`, { limit: PAGE_SIZE });
      if (this.current !== roomId) return;
      this.timeline.merge(page.messages);
      this.timeline.hasOlder = page.has_more_before;
      this.timeline.loaded = true;
      this.view.timelineLoaded();
      this.markRead();
    } catch (error) {
      if (this.current === roomId) this.view.toast(error);
    }
    this.loadMembers(roomId).catch(() => {});
  }

  /** Follow the open room's live messages; with what we hold, catch up on what was missed. */
  async join() {
    const timeline = this.timeline;
    if (!timeline) return;
    const payload = { room_id: timeline.roomId };
    const last = timeline.maxSeq();
    if (timeline.loaded && last) payload.since_seq = last;
    if (timeline.loaded && timeline.changesCursor) payload.changes_since = timeline.changesCursor;
    const answer = await this.call("room:join", payload);
    if (this.timeline !== timeline) return;
    if (answer.changes_cursor) timeline.changesCursor = answer.changes_cursor;
    const changed = [...timeline.merge(answer.messages), ...timeline.merge(answer.changed)];
    if (answer.has_more || answer.changes_more) {
      // Missed more than one catch-up holds: start again from the newest page.
      const page = await this.api.get(`${API}/rooms/${path(timeline.roomId)}/messages`, { limit: PAGE_SIZE });
      timeline.messages.clear();
      timeline.merge(page.messages);
      timeline.hasOlder = page.has_more_before;
      this.view.timelineLoaded();
    } else if (changed.length && timeline.loaded) {
      for (const message of changed) this.view.messageChanged(message);
    }
  }

  closeRoom() {
    if (this.current) this.call("room:leave", { room_id: this.current }).catch(() => {});
    this.stopTyping();
    this.current = null;
    this.timeline = null;
    this.view.roomOpened();
  }

  async loadOlder() {
    const timeline = this.timeline;
    if (!timeline || !timeline.loaded || timeline.loadingOlder || !timeline.hasOlder) return false;
    timeline.loadingOlder = true;
    this.view.olderLoading(true);
    try {
      const before = timeline.minSeq();
      const page = await this.api.get(`${API}/rooms/${path(timeline.roomId)}/messages`, { before, limit: PAGE_SIZE });
      if (this.timeline !== timeline) return false;
      timeline.merge(page.messages);
      timeline.hasOlder = page.has_more_before;
      this.view.olderLoaded();
      return true;
    } catch (error) {
      this.view.toast(error);
      return false;
    } finally {
      timeline.loadingOlder = false;
      this.view.olderLoading(false);
    }
  }

  /** Load older pages until `seq` is held (a search hit, a reply's original); at most 20 pages. */
  async reach(seq) {
    for (let i = 0; i < 20 && this.timeline && !this.timeline.messages.has(seq) && this.timeline.hasOlder; i += 1) {
      if (!(await this.loadOlder())) break;
    }
    return !!(this.timeline && this.timeline.messages.has(seq));
  }

  markRead() {
    const timeline = this.timeline;
    if (!timeline || !timeline.loaded || !this.connection || !this.connection.connected) return;
    if (!this.view.chatVisible()) return;
    const last = timeline.maxSeq();
    const known = timeline.myRead;
    if (!last || known >= last) {
      if (known) this.alertsRead(timeline.roomId, known); // read already (here or elsewhere): its alerts are done
      return;
    }
    timeline.myRead = last;
    this.call("room:read", { room_id: timeline.roomId, seq: last })
      .then((state) => this.applyRead(state))
      .catch((error) => {
        if (timeline.myRead === last) timeline.myRead = known;
        if (error.code !== "read_beyond_last") this.view.toast(error);
      });
  }

  applyRead(state) {
    if (typeof state.read_seq === "number") this.alertsRead(state.room_id, state.read_seq);
    const room = this.rooms.get(state.room_id);
    if (room) {
      room.unread_count = state.unread_count;
      if (typeof state.read_seq === "number") room.last_seq = Math.max(room.last_seq || 0, state.read_seq);
    }
    if (this.timeline && this.timeline.roomId === state.room_id && typeof state.read_seq === "number") {
      this.timeline.myRead = Math.max(this.timeline.myRead || 0, state.read_seq);
    }
    this.view.roomsChanged();
  }

  async createGroup(name, participants) {
    const room = this.setRoom(await this.api.post(`${API}/rooms`, { name, participants }));
    this.view.roomsChanged();
    await this.openRoom(room.id);
  }

  async startDirect(userId) {
    const answer = await this.call("direct:start", { user_id: userId });
    const room = this.setRoom(answer.room);
    this.view.roomsChanged();
    await this.openRoom(room.id);
  }

  async loadMembers(roomId) {
    const view = await this.api.get(`${API}/rooms/${path(roomId)}`);
    this.setRoom(view);
    this.view.membersChanged(roomId);
    this.view.roomsChanged();
  }

  async addMembers(userIds) {
    const roomId = this.current;
    const view = await this.api.post(`${API}/rooms/${path(roomId)}/members`, { user_ids: userIds });
    this.setRoom(view);
    this.view.membersChanged(roomId);
  }

  async removeMember(userId) {
    const roomId = this.current;
    await this.api.delete(`${API}/rooms/${path(roomId, "members", userId)}`);
    if (this.user && userId === this.user.id) return this.left(roomId);
    await this.loadMembers(roomId);
  }

  async leaveRoom() {
    const roomId = this.current;
    await this.api.post(`${API}/rooms/${path(roomId)}/leave`, {});
    this.left(roomId);
  }

  left(roomId) {
    this.rooms.delete(roomId);
    this.members.delete(roomId);
    if (this.current === roomId) {
      this.current = null;
      this.timeline = null;
      this.view.roomOpened();
    }
    this.view.roomsChanged();
  }

  async toggleFavorite(type, id) {
    const answer = await this.call("favorite:toggle", { type, id });
    this.favorites = answer.favorites;
    this.view.favoritesChanged();
  }

  // -- messages -------------------------------------------------------------------------------------

  async send(text) {
    const timeline = this.timeline;
    if (!timeline) return false;
    const content = text.trim();
    const attachment = this.attachment;
    if (attachment && attachment.uploading) {
      this.view.toast("The file is still uploading");
      return false;
    }
    if (!content && !attachment) return false;
    const payload = { room_id: timeline.roomId, client_ref: clientRef() };
    if (content) payload.content = content;
    if (this.replyTo) payload.reply_to = this.replyTo.id;
    if (attachment) payload.attachment_id = attachment.id;
    this.replyTo = null;
    this.clearAttachment();
    this.stopTyping();
    await this.deliver(timeline, payload);
    return true;
  }

  async deliver(timeline, payload) {
    timeline.sending.set(payload.client_ref, { payload, error: null });
    this.view.sendingChanged();
    try {
      await this.call("message:send", payload);
      timeline.sending.delete(payload.client_ref);
    } catch (error) {
      const held = timeline.sending.get(payload.client_ref);
      if (held) held.error = error;
      this.view.toast(error);
    }
    this.view.sendingChanged();
  }

  /** Send a failed message again, with its client_ref: the server stores it once whatever happened. */
  retry(ref) {
    const held = this.timeline && this.timeline.sending.get(ref);
    if (held) this.deliver(this.timeline, held.payload);
  }

  discard(ref) {
    if (this.timeline) this.timeline.sending.delete(ref);
    this.view.sendingChanged();
  }

  async edit(message, content) {
    const answer = await this.call("message:edit", { message_id: message.id, content });
    this.messageUpdated(answer.message);
  }

  async remove(message) {
    const answer = await this.call("message:delete", { message_id: message.id });
    this.messageDeleted(answer);
  }

  async react(message, emoji) {
    const answer = await this.call("reaction:toggle", { message_id: message.id, emoji });
    this.reactionsChanged(answer);
  }

  setReply(message) {
    this.replyTo = message;
    this.view.composerChanged();
  }

  async attach(file) {
    this.clearAttachment();
    const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
    const attachment = { name: file.name, size: file.size, kind: preview ? "image" : "file", preview, uploading: true };
    this.attachment = attachment;
    this.view.composerChanged();
    try {
      Object.assign(attachment, await this.api.upload(file), { uploading: false });
    } catch (error) {
      if (this.attachment === attachment) this.clearAttachment();
      this.view.toast(error);
    }
    this.view.composerChanged();
  }

  clearAttachment() {
    if (this.attachment && this.attachment.preview) URL.revokeObjectURL(this.attachment.preview);
    this.attachment = null;
    this.view.composerChanged();
  }

  /** A fresh signed link for a message's file (the one it carries expired). */
  async refreshLink(message) {
    const answer = await this.api.get(`${API}/messages/${path(message.id)}/attachment-url`);
    if (message.attachment) Object.assign(message.attachment, { url: answer.url, url_expires_at: answer.url_expires_at });
    return answer.url;
  }

  typing() {
    if (!this.timeline || !this.connection || !this.connection.connected) return;
    const now = Date.now();
    if (now - this.lastTypingAt < TYPING_REPEAT_MS) return;
    this.lastTypingAt = now;
    this.call("typing:start", { room_id: this.timeline.roomId }).catch(() => {});
  }

  stopTyping() {
    if (!this.lastTypingAt || !this.timeline) return;
    this.lastTypingAt = 0;
    this.call("typing:stop", { room_id: this.timeline.roomId }).catch(() => {});
  }

  // -- presence, notifications, search --------------------------------------------------------------

  async setStatus(status) {
    const answer = await this.call("presence:set", { status });
    this.status = answer.status;
    this.view.meChanged();
  }

  async acknowledge(ids) {
    const answer = await this.call("notifications:ack", { ids });
    this.pending = this.pending.filter((n) => !ids.includes(n.id));
    if (!this.pending.length) this.pendingAck = null;
    this.view.alertsChanged();
    return answer.acknowledged;
  }

  /** Acknowledge everything pending: through the notification:pending event's own callback when we hold it. */
  async acknowledgeAll() {
    const ids = this.pending.map((n) => n.id).filter(Boolean);
    if (this.pendingAck) {
      const ack = this.pendingAck;
      this.pendingAck = null;
      ack({ ok: true });
      this.pending = [];
      this.view.alertsChanged();
      return ids.length;
    }
    return ids.length ? this.acknowledge(ids) : 0;
  }

  async fetchPending() {
    const answer = await this.api.get(`${API}/notifications`);
    this.pending = answer.notifications;
    this.view.alertsChanged();
    await this.refreshAlertMessages(true);
  }

  /** The room is read up to `readSeq` (here or on another device): its alerts up to there are done. Live ones
   * are dropped; pending (stored) ones are acknowledged, so they are not delivered again. */
  alertsRead(roomId, readSeq) {
    const done = (n) => n.room_id === roomId && n.seq <= readSeq;
    const live = this.live.filter((n) => !done(n));
    const acknowledged = this.pending.filter(done).map((n) => n.id).filter(Boolean);
    if (live.length === this.live.length && !acknowledged.length) return;
    this.live = live;
    if (acknowledged.length) this.acknowledge(acknowledged).catch((error) => this.view.toast(error));
    this.view.alertsChanged();
  }

  /** Read the alerts' messages as they are now (an edit or a delete since the notification), all of them or
   * only those not read yet. Rooms one does not follow send no message:updated, so the Alerts panel asks. */
  async refreshAlertMessages(all = false) {
    const ids = new Set([...this.pending, ...this.live].map((n) => n.message_id).filter(Boolean));
    for (const id of this.alertMessages.keys()) if (!ids.has(id)) this.alertMessages.delete(id);
    const wanted = [...ids].filter((id) => all || !this.alertMessages.has(id)).slice(0, LIVE_NOTIFICATIONS_KEPT);
    if (!wanted.length) return;
    for (const id of wanted) if (!this.alertMessages.has(id)) this.alertMessages.set(id, null); // asked once
    const found = await Promise.all(wanted.map((id) => this.api.get(`${API}/messages/${path(id)}`).catch(() => null)));
    for (const message of found) if (message && message.id) this.alertMessages.set(message.id, message);
    this.view.alertsChanged();
  }

  /** What an alert shows of its message: the text as it is now when known, else the notification's excerpt. */
  alertText(n) {
    const message = this.alertMessages.get(n.message_id);
    if (!message) return { text: n.excerpt, edited: false, deleted: false };
    if (message.deleted_at) return { text: "Message deleted", edited: false, deleted: true };
    const text = message.content || (message.attachment ? message.attachment.name : "");
    return { text, edited: !!message.edited_at, deleted: false };
  }

  dismissLive(index) {
    if (index === undefined) this.live = [];
    else this.live.splice(index, 1);
    this.view.alertsChanged();
  }

  async runSearch(q, roomOnly, more = false) {
    const search = this.search;
    if (!more) Object.assign(search, { q, roomOnly, hits: [], next: null, done: false });
    search.busy = true;
    this.view.searchChanged();
    try {
      const answer = await this.api.get(`${API}/search`, {
        q: search.q,
        room_id: search.roomOnly && this.current ? this.current : undefined,
        cursor: more ? search.next : undefined,
        limit: 20,
      });
      search.hits.push(...answer.hits);
      search.next = answer.next_cursor;
      search.done = true;
    } catch (error) {
      this.view.toast(error);
    } finally {
      search.busy = false;
      this.view.searchChanged();
    }
  }

  refreshPeople() {
    clearTimeout(this.peopleTimer);
    this.peopleTimer = setTimeout(() => {
      this.api.get(`${API}/me/people`).then((answer) => {
        for (const person of answer.people) this.people.set(person.user_id, person);
        this.view.peopleChanged();
        this.view.roomsChanged();
      }).catch(() => {});
    }, 250);
  }

  // -- plumbing -------------------------------------------------------------------------------------

  call(event, payload) {
    if (!this.connection) return Promise.reject(new Error("not signed in"));
    return this.connection.call(event, payload);
  }

  messageUpdated(message) {
    if (this.alertMessages.has(message.id)) {
      this.alertMessages.set(message.id, message);
      this.view.alertsChanged();
    }
    const room = this.rooms.get(message.room_id);
    if (room && room.last_message && room.last_message.id === message.id) {
      room.last_message = message;
      this.view.roomsChanged();
    }
    if (this.timeline && this.timeline.roomId === message.room_id) {
      for (const changed of this.timeline.merge([message])) this.view.messageChanged(changed);
    }
  }

  messageDeleted(deleted) {
    if (this.alertMessages.has(deleted.id)) {
      this.alertMessages.set(deleted.id, { ...(this.alertMessages.get(deleted.id) || {}), ...deleted });
      this.view.alertsChanged();
    }
    const room = this.rooms.get(deleted.room_id);
    if (room && room.last_message && room.last_message.id === deleted.id) {
      room.last_message = { ...room.last_message, content: "", attachment: null, deleted_at: deleted.deleted_at };
      this.view.roomsChanged();
    }
    const timeline = this.timeline;
    if (!timeline || timeline.roomId !== deleted.room_id) return;
    const held = timeline.messages.get(deleted.seq);
    if (!held || newer(held.version, deleted.version)) return;
    const message = { ...held, content: "", attachment: null, reactions: [], ...deleted };
    timeline.messages.set(deleted.seq, message);
    this.view.messageChanged(message);
  }

  reactionsChanged(update) {
    const timeline = this.timeline;
    if (!timeline || timeline.roomId !== update.room_id) return;
    const held = timeline.messages.get(update.seq);
    if (!held) return;
    const message = { ...held, reactions: update.reactions };
    timeline.messages.set(update.seq, message);
    this.view.messageChanged(message);
  }
}

const HANDLERS = {
  "session:ready"(data) {
    this.user = data.user;
    this.status = data.status;
    this.ready = true;
    const rooms = new Map();
    for (const view of data.rooms || []) rooms.set(view.id, { ...this.rooms.get(view.id), ...view });
    if (data.rooms) this.rooms = rooms;
    if (data.people) this.people = new Map(data.people.map((p) => [p.user_id, p]));
    if (data.favorites) this.favorites = data.favorites;
    this.view.sessionReady();
    if (this.timeline) {
      // A reconnect: follow the open room again, catching up from the last seq held.
      if (!this.rooms.has(this.timeline.roomId)) this.left(this.timeline.roomId);
      else this.join().then(() => this.markRead()).catch((error) => this.view.toast(error));
    }
  },

  "notification:pending"(data, ack) {
    this.pending = data.notifications || [];
    this.pendingAck = ack;
    this.view.alertsChanged();
    this.refreshAlertMessages().catch(() => {});
  },

  "notification:new"(data) {
    this.live.unshift({ ...data, at: new Date() });
    if (this.live.length > LIVE_NOTIFICATIONS_KEPT) this.live.length = LIVE_NOTIFICATIONS_KEPT;
    const room = this.rooms.get(data.room_id);
    if (room) {
      room.unread_count = data.unread_count;
      room.last_seq = Math.max(room.last_seq || 0, data.seq);
      room.last_message = {
        id: data.message_id,
        seq: data.seq,
        sender_id: data.sender_id,
        content: data.excerpt,
        type: "text",
        created_at: data.created_at,
      };
      this.view.roomsChanged();
    } else {
      this.loadMembers(data.room_id).catch(() => {});
    }
    this.view.alertsChanged();
    this.refreshAlertMessages().catch(() => {});
  },

  "message:new"(message) {
    const room = this.rooms.get(message.room_id);
    if (room) {
      room.last_message = message;
      room.last_seq = Math.max(room.last_seq || 0, message.seq);
      this.view.roomsChanged();
    }
    const timeline = this.timeline;
    if (!timeline || timeline.roomId !== message.room_id) return;
    const held = timeline.byId(message.id);
    if (held && held.seq !== message.seq) {
      // The server moved it to a new seq (Redis had lost writes): what we hold around it may be off. Reload.
      this.current = null;
      this.openRoom(message.room_id).catch(() => {});
      return;
    }
    if (message.client_ref) timeline.sending.delete(message.client_ref);
    // Sending moves the sender's read cursor (without a receipt): they have seen the room up to it.
    if (this.user && message.sender_id === this.user.id) {
      timeline.myRead = Math.max(timeline.myRead || 0, message.seq);
    } else if (message.type !== "system") {
      timeline.reads.set(message.sender_id, Math.max(timeline.reads.get(message.sender_id) || 0, message.seq));
    }
    clearTimeout(timeline.typing.get(message.sender_id));
    if (timeline.typing.delete(message.sender_id)) this.view.typingChanged();
    for (const changed of timeline.merge([message])) this.view.messageArrived(changed);
    this.view.sendingChanged();
    this.markRead();
  },

  "message:updated"(data) {
    this.messageUpdated(data.message);
  },

  "message:deleted"(data) {
    this.messageDeleted(data);
  },

  "reaction:update"(data) {
    this.reactionsChanged(data);
  },

  "typing:update"(data) {
    const timeline = this.timeline;
    if (!timeline || timeline.roomId !== data.room_id) return;
    clearTimeout(timeline.typing.get(data.user_id));
    if (data.typing) {
      const timer = setTimeout(() => {
        timeline.typing.delete(data.user_id);
        this.view.typingChanged();
      }, Math.max(500, (data.expires_in || 5) * 1000));
      timeline.typing.set(data.user_id, timer);
    } else {
      timeline.typing.delete(data.user_id);
    }
    this.view.typingChanged();
  },

  "receipt:read"(data) {
    const timeline = this.timeline;
    if (!timeline || timeline.roomId !== data.room_id) return;
    timeline.reads.set(data.user_id, Math.max(timeline.reads.get(data.user_id) || 0, data.read_seq));
    this.view.seenChanged();
  },

  "unread:update"(data) {
    this.applyRead(data);
  },

  "presence:update"(data) {
    if (this.user && data.user_id === this.user.id) {
      this.status = data.status;
      this.view.meChanged();
      return;
    }
    const person = this.people.get(data.user_id);
    if (person) Object.assign(person, { status: data.status, last_seen_at: data.last_seen_at });
    else this.people.set(data.user_id, { name: null, ...data });
    // Someone who had never connected has a name now, perhaps: read the list again (once for a burst).
    if (!person || !person.name) this.refreshPeople();
    this.view.peopleChanged();
  },

  "people:update"(data) {
    for (const person of data.added || []) this.people.set(person.user_id, person);
    for (const userId of data.removed || []) this.people.delete(userId);
    this.view.peopleChanged();
  },

  "favorites:update"(data) {
    this.favorites = data.favorites || [];
    this.view.favoritesChanged();
  },

  "room:added"(data) {
    if (!this.rooms.has(data.room.id)) {
      const room = this.setRoom({ member_count: 0, last_seq: 0, unread_count: 0, last_message: null, peer: null, ...data.room });
      // Rooms I made myself arrive here too (maybe before the answer to my request): no news for me.
      if (room.type === "group" && this.user && room.owner_id !== this.user.id) {
        this.view.toast(`You were added to ${this.roomTitle(room)}`, "info");
      }
    }
    this.view.roomsChanged();
    this.loadMembers(data.room.id).catch(() => {});
  },

  "room:removed"(data) {
    const room = this.rooms.get(data.room_id);
    if (room && data.reason === "removed") this.view.toast(`You were removed from ${this.roomTitle(room)}`, "info");
    this.left(data.room_id);
  },

  "room:members_changed"(data) {
    const room = this.rooms.get(data.room_id);
    if (!room) return;
    room.owner_id = data.owner_id;
    if (this.members.has(data.room_id) || this.current === data.room_id) this.loadMembers(data.room_id).catch(() => {});
  },

  "server:shutdown"(data) {
    this.comeBackIn = Math.max(0, Number(data.reconnect_in_ms) || 0);
    this.view.toast(`The server is stopping: reconnecting in ${(this.comeBackIn / 1000).toFixed(1)} s`, "info");
  },

  error(data) {
    const where = data.event ? `${data.event}: ` : "";
    this.view.toast(`${where}${data.message || data.code} (${data.code})`);
  },
};
