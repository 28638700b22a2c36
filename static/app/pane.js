// One user's part of the page: the sign-in card, then the bar (who, status, connection), the rooms and
// people, the open conversation and the side panel (members, notifications, search, event log).
// Everything a user typed reaches the DOM through dom.js as text.

import { API } from "./api.js";
import { $, append, h, replace, safeUrl } from "./dom.js";
import { ago, bytes, clock, hue, initials, plural, STATUSES } from "./format.js";
import { icon } from "./icons.js";
import { LogView } from "./log.js";

const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];
const TABS = [
  ["members", "Members"],
  ["alerts", "Alerts"],
  ["search", "Search"],
  ["log", "Log"],
];
const NARROW = 640; // px of the pane: one column at a time
const WIDE = 1000; // px of the pane: the side panel stays open as a third column
const GROUP_GAP_MS = 5 * 60 * 1000; // consecutive messages of one sender within this share a header

export class Pane {
  constructor(session, { label, title, devMode, defaults }) {
    this.session = session;
    session.view = this;
    this.label = label;
    this.title = title;
    this.devMode = devMode;
    this.defaults = defaults;
    this.tab = "members";
    this.msgEls = new Map(); // seq -> li
    this.editing = null; // seq of the message being edited
    this.editDraft = null;
    this.pending = new Set();
    this.root = h("section", {
      class: "pane",
      dataset: { pane: label, signed: "no", view: "rooms", drawer: "closed", tab: this.tab },
      "aria-label": title,
    });
    this.signIn = this.buildSignIn();
    this.main = this.buildMain();
    this.toasts = h("div", { class: "toasts", "aria-live": "polite" });
    this.root.append(this.signIn, this.main, this.toasts);
  }

  // -- sign-in --------------------------------------------------------------------------------------

  buildSignIn() {
    const session = this.session;
    const error = h("p", { class: "form-error", role: "alert" });
    const transport = h("select", { name: "transport", class: "input" },
      h("option", { value: "websocket" }, "WebSocket"),
      h("option", { value: "polling" }, "Long-polling, then WebSocket"));
    const busy = async (form, work) => {
      error.textContent = "";
      form.classList.add("busy");
      for (const button of form.querySelectorAll("button")) button.disabled = true;
      try {
        await work();
      } catch (err) {
        error.textContent = signInError(err);
      } finally {
        form.classList.remove("busy");
        for (const button of form.querySelectorAll("button")) button.disabled = false;
      }
    };
    const userId = h("input", { name: "user_id", class: "input", required: true, autocomplete: "off", spellcheck: "false",
      maxlength: 255, value: this.defaults.userId });
    const name = h("input", { name: "name", class: "input", autocomplete: "off", maxlength: 200, value: this.defaults.name });
    const devForm = h("form", { class: "signin-form dev-signin", on: { submit: (e) => {
      e.preventDefault();
      busy(devForm, () => session.signInDev(userId.value.trim(), name.value.trim(), transport.value));
    } } },
      h("label", { class: "field" }, h("span", {}, "User id"), userId),
      h("label", { class: "field" }, h("span", {}, "Display name ", h("small", { class: "muted" }, "(optional)")), name),
      h("button", { type: "submit", class: "btn primary wide" }, "Sign in"));
    const token = h("textarea", { name: "token", class: "input mono", rows: 3, spellcheck: "false",
      placeholder: "eyJhbGciOi…", "aria-label": "Token" });
    const tokenForm = h("form", { class: "signin-form token-signin", on: { submit: (e) => {
      e.preventDefault();
      busy(tokenForm, () => session.signInToken(token.value, transport.value));
    } } }, token, h("button", { type: "submit", class: ["btn", "wide", !this.devMode && "primary"] }, "Use this token"));
    return h("div", { class: "signin" },
      h("div", { class: "card signin-card" },
        h("h2", {}, "Sign in ", h("span", { class: "pill" }, this.title)),
        this.devMode
          ? [devForm, h("p", { class: "hint" }, `Development mode: the server mints a token for any user id (POST ${API}/dev/token).`)]
          : h("p", { class: "notice" }, "Development sign-in is off on this server (DEV_MODE). Paste a token made with ",
            h("code", {}, "run.py token USER_ID"), " or by your identity provider."),
        h("details", { class: "token-box", open: !this.devMode }, h("summary", {}, "Paste a token"), tokenForm),
        h("label", { class: "field inline" }, h("span", {}, "Transport"), transport),
        error));
  }

  signedIn() {
    this.root.dataset.signed = "yes";
    this.renderMe();
    this.connectionChanged();
  }

  signedOut() {
    this.root.dataset.signed = "no";
    this.msgEls.clear();
    this.renderAll();
  }

  // -- the signed-in skeleton -----------------------------------------------------------------------

  buildMain() {
    const session = this.session;
    this.meAvatar = h("span", { class: "avatar" });
    this.meName = h("strong", { class: "me-name" });
    this.meId = h("span", { class: "me-id muted" });
    this.statusSelect = h("select", { class: "status-select input", "aria-label": "My status",
      on: { change: (e) => session.setStatus(e.target.value).catch((err) => { this.toast(err); this.renderMe(); }) } },
      STATUSES.map((s) => h("option", { value: s }, statusLabel(s))));
    this.connState = h("span", { class: "conn-state" });
    this.connDetail = h("span", { class: "conn-detail" });
    this.connText = h("span", { class: "conn-text" }, this.connState, this.connDetail);
    this.conn = h("span", { class: "conn", role: "status", dataset: { state: "idle" } }, h("span", { class: "dot" }), this.connText);
    this.connectLabel = h("span", { class: "label" }, "Disconnect");
    this.connectButton = h("button", { type: "button", class: "btn small", on: { click: () => this.toggleConnection() } },
      icon("power"), this.connectLabel);
    const bar = h("header", { class: "pane-bar" },
      h("div", { class: "me" }, this.meAvatar, h("div", { class: "me-text" }, this.meName, this.meId)),
      this.statusSelect,
      this.conn,
      h("div", { class: "bar-actions" },
        h("button", { type: "button", class: "btn small", title: "Drop the connection and open a new one", "aria-label": "Reconnect",
          on: { click: () => session.connection && session.connection.reconnect() } },
          icon("refresh"), h("span", { class: "label" }, "Reconnect")),
        this.connectButton,
        h("button", { type: "button", class: "btn small ghost", title: "Sign out", "aria-label": "Sign out", on: { click: () => session.signOut() } },
          icon("logout"), h("span", { class: "label" }, "Sign out"))));

    this.navButtons = new Map();
    const navButton = (key, text, onClick) => {
      const badge = h("span", { class: "badge", hidden: true });
      const button = h("button", { type: "button", class: `nav-${key}`, role: "tab", dataset: { key }, on: { click: onClick } }, text, badge);
      this.navButtons.set(key, { button, badge });
      return button;
    };
    const nav = h("nav", { class: "pane-nav", role: "tablist", "aria-label": "Sections" },
      navButton("rooms", "Rooms", () => this.setView("rooms")),
      navButton("chat", "Chat", () => this.setView("chat")),
      TABS.map(([key, text]) => navButton(key, text, () => this.openTab(key))));

    const body = h("div", { class: "pane-body" }, this.buildSidebar(), this.buildChat(), this.buildDrawer());
    return h("div", { class: "pane-main" }, bar, nav, body);
  }

  buildSidebar() {
    const session = this.session;
    const groupName = h("input", { class: "input", name: "room_name", required: true, maxlength: 200, placeholder: "Room name", "aria-label": "New group name" });
    const groupPeople = h("input", { class: "input", name: "participants", placeholder: "Members: bob, carol", "aria-label": "New group members", autocomplete: "off" });
    this.groupForm = h("form", { class: "mini-form", hidden: true, on: { submit: (e) => {
      e.preventDefault();
      this.run(session.createGroup(groupName.value, splitIds(groupPeople.value)).then(() => {
        groupName.value = "";
        groupPeople.value = "";
        this.groupForm.hidden = true;
      }));
    } } }, groupName, groupPeople, h("div", { class: "row" },
      h("button", { type: "submit", class: "btn primary small" }, "Create group"),
      h("button", { type: "button", class: "btn small ghost", on: { click: () => { this.groupForm.hidden = true; } } }, "Cancel")));
    const directId = h("input", { class: "input", name: "user_id", required: true, placeholder: "User id", "aria-label": "Direct chat user id", autocomplete: "off" });
    this.directForm = h("form", { class: "mini-form", hidden: true, on: { submit: (e) => {
      e.preventDefault();
      this.run(session.startDirect(directId.value.trim()).then(() => {
        directId.value = "";
        this.directForm.hidden = true;
      }));
    } } }, directId, h("div", { class: "row" },
      h("button", { type: "submit", class: "btn primary small" }, "Start chat"),
      h("button", { type: "button", class: "btn small ghost", on: { click: () => { this.directForm.hidden = true; } } }, "Cancel")));
    const toggle = (form, other, input) => () => {
      form.hidden = !form.hidden;
      other.hidden = true;
      if (!form.hidden) input.focus();
    };
    this.favList = h("ul", { class: "list favorites" });
    this.favSection = h("section", { class: "side-section", hidden: true }, h("h3", {}, "Favorites"), this.favList);
    this.roomsHeading = h("h3", {}, "Rooms");
    this.roomList = h("ul", { class: "list rooms" });
    this.peopleList = h("ul", { class: "list people" });
    this.sidebar = h("aside", { class: "sidebar", "aria-label": "Rooms and people" },
      h("div", { class: "side-actions" },
        h("button", { type: "button", class: "btn small", on: { click: toggle(this.groupForm, this.directForm, groupName) } }, "+ Group"),
        h("button", { type: "button", class: "btn small", on: { click: toggle(this.directForm, this.groupForm, directId) } }, "+ Direct")),
      this.groupForm, this.directForm,
      this.favSection,
      h("section", { class: "side-section" }, this.roomsHeading, this.roomList),
      h("section", { class: "side-section" }, h("h3", {}, "People"), this.peopleList));
    return this.sidebar;
  }

  buildChat() {
    const session = this.session;
    this.chatHead = h("header", { class: "chat-head" });
    this.olderButton = h("button", { type: "button", class: "btn small older", hidden: true,
      on: { click: () => this.keepScroll(() => session.loadOlder()) } }, "Load older messages");
    this.list = h("ol", { class: "messages", "aria-label": "Messages" });
    this.sendingList = h("ol", { class: "messages sending" });
    this.scroller = h("div", { class: "timeline", tabindex: "0" }, this.olderButton, this.list, this.sendingList);
    this.scroller.addEventListener("scroll", () => {
      const timeline = session.timeline;
      if (this.scroller.scrollTop < 40 && timeline && timeline.hasOlder && !timeline.loadingOlder) {
        this.keepScroll(() => session.loadOlder());
      }
      if (this.nearBottom()) session.markRead();
    });
    this.typingLine = h("div", { class: "typing", "aria-live": "polite" });
    this.composerContext = h("div", { class: "composer-context" });
    const fileId = `file-${this.label}`;
    this.fileInput = h("input", { type: "file", id: fileId, class: "visually-hidden", on: { change: (e) => {
      const file = e.target.files && e.target.files[0];
      if (file) session.attach(file);
      e.target.value = "";
    } } });
    this.input = h("textarea", { class: "composer-input input", rows: 1, placeholder: "Write a message…", "aria-label": "Message", maxlength: 4000 });
    this.input.addEventListener("input", () => {
      this.autosize();
      if (this.input.value.trim()) session.typing();
      else session.stopTyping();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.composer.requestSubmit();
      } else if (e.key === "Escape" && session.replyTo) {
        session.setReply(null);
      }
    });
    this.input.addEventListener("blur", () => session.stopTyping());
    this.composer = h("form", { class: "composer", on: { submit: (e) => {
      e.preventDefault();
      const text = this.input.value;
      session.send(text).then((sent) => {
        if (sent) {
          this.input.value = "";
          this.autosize();
        }
      });
      this.input.focus();
    } } },
      this.composerContext,
      h("div", { class: "composer-row" },
        this.fileInput,
        h("label", { class: "btn icon attach", for: fileId, title: "Attach a file", "aria-label": "Attach a file" }, icon("clip")),
        this.input,
        h("button", { type: "submit", class: "btn primary send", "aria-label": "Send" }, icon("send"), h("span", { class: "label" }, "Send"))));
    this.emptyChat = h("div", { class: "empty-chat" },
      h("p", { class: "empty-title" }, "No room open"),
      h("p", { class: "muted" }, "Pick a room on the left, or start one with + Group or + Direct."));
    this.chat = h("main", { class: "chat", dataset: { open: "no" } },
      this.chatHead, this.scroller, this.typingLine, this.composer, this.emptyChat);
    return this.chat;
  }

  buildDrawer() {
    this.drawerTitle = h("h2", {});
    this.panels = {
      members: h("div", { class: "panel members-panel" }),
      alerts: h("div", { class: "panel alerts-panel" }),
      search: this.buildSearch(),
      log: h("div", { class: "panel log-panel" }),
    };
    this.logView = new LogView(this.session.log);
    this.panels.log.append(this.logView.element);
    this.drawer = h("aside", { class: "drawer", "aria-label": "Side panel" },
      h("header", { class: "drawer-head" }, this.drawerTitle,
        h("button", { type: "button", class: "btn icon drawer-close", "aria-label": "Close the panel",
          on: { click: () => this.closeDrawer() } }, icon("close"))),
      Object.values(this.panels));
    return this.drawer;
  }

  buildSearch() {
    const session = this.session;
    const q = h("input", { type: "search", class: "input", name: "q", required: true, maxlength: 200, placeholder: "Words to find", "aria-label": "Search words" });
    const roomOnly = h("input", { type: "checkbox", name: "room_only" });
    const form = h("form", { class: "mini-form search-form", on: { submit: (e) => {
      e.preventDefault();
      session.runSearch(q.value, roomOnly.checked);
    } } }, h("div", { class: "row" }, q, h("button", { type: "submit", class: "btn primary small" }, "Search")),
      h("label", { class: "check" }, roomOnly, "Only the open room"));
    this.searchResults = h("div", { class: "search-results" });
    return h("div", { class: "panel search-panel" }, form,
      h("p", { class: "hint" }, "Finds persisted messages (a moment after sending); a word also finds the words it begins."),
      this.searchResults);
  }

  // -- layout ---------------------------------------------------------------------------------------

  layout() {
    const width = this.root.clientWidth;
    return width < NARROW ? "narrow" : width < WIDE ? "medium" : "wide";
  }

  setView(view) {
    this.root.dataset.view = view;
    this.renderNav();
    if (view === "chat") {
      this.scrollToBottom();
      this.session.markRead();
    }
  }

  showChat() {
    this.setView("chat"); // what a narrow pane shows (now, or once it is made narrow)
  }

  openTab(tab) {
    const layout = this.layout();
    if (layout === "narrow") {
      this.root.dataset.view = "panel";
    } else if (layout === "medium") {
      const open = this.root.dataset.drawer === "open" && this.tab === tab;
      this.root.dataset.drawer = open ? "closed" : "open";
    }
    this.tab = tab;
    this.root.dataset.tab = tab;
    this.renderDrawer();
    this.renderNav();
    if (tab === "alerts") this.session.refreshAlertMessages(true).catch(() => {}); // edits made since they came
  }

  closeDrawer() {
    this.root.dataset.drawer = "closed";
    if (this.root.dataset.view === "panel") this.root.dataset.view = this.session.current ? "chat" : "rooms";
    this.renderNav();
  }

  chatVisible() {
    return document.visibilityState === "visible" && this.scroller.getClientRects().length > 0;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  /** Run `load` (which adds messages above) keeping the messages on screen where they are. */
  async keepScroll(load) {
    const before = this.scroller.scrollHeight;
    const top = this.scroller.scrollTop;
    await load();
    this.scroller.scrollTop = top + (this.scroller.scrollHeight - before);
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  // -- what the session tells -----------------------------------------------------------------------

  /** Batch list re-renders: many events in one task draw once. */
  schedule(...parts) {
    const first = this.pending.size === 0;
    for (const part of parts) this.pending.add(part);
    if (!first) return;
    queueMicrotask(() => {
      const parts = [...this.pending];
      this.pending.clear();
      for (const part of parts) this[`render${part}`]();
    });
  }

  connectionChanged() {
    this.schedule("Connection");
  }

  sessionReady() {
    this.schedule("Me", "Connection", "Sidebar", "Nav", "ChatHead", "Drawer");
  }

  roomsChanged() {
    this.schedule("Sidebar", "Nav", "ChatHead", "Members");
  }

  peopleChanged() {
    this.schedule("Sidebar", "ChatHead", "Members");
  }

  favoritesChanged() {
    this.schedule("Sidebar", "ChatHead", "Members");
  }

  meChanged() {
    this.schedule("Me", "Members");
  }

  membersChanged() {
    this.schedule("Members", "ChatHead");
  }

  alertsChanged() {
    this.schedule("Alerts", "Nav");
  }

  searchChanged() {
    this.renderSearch();
  }

  composerChanged() {
    this.renderComposer();
  }

  typingChanged() {
    this.renderTyping();
  }

  seenChanged() {
    this.renderSeen();
  }

  sendingChanged() {
    this.renderSending();
  }

  roomOpened() {
    this.editing = null;
    this.renderChat();
    this.schedule("Sidebar", "Members", "Drawer");
    if (this.session.current) this.showChat();
    else if (this.root.dataset.view === "chat") this.setView("rooms");
  }

  timelineLoaded() {
    this.renderTimeline();
    this.scrollToBottom();
  }

  olderLoading(busy) {
    this.olderButton.disabled = busy;
    this.olderButton.textContent = busy ? "Loading…" : "Load older messages";
  }

  olderLoaded() {
    this.renderTimeline();
  }

  messageArrived(message) {
    const stick = this.nearBottom();
    this.placeMessage(message);
    this.restyle();
    const mine = this.session.user && message.sender_id === this.session.user.id;
    if (stick || mine) this.scrollToBottom();
  }

  messageChanged(message) {
    const timeline = this.session.timeline;
    if (!timeline || !timeline.loaded) return;
    this.placeMessage(message);
    // Replies quote the message: they show the change too.
    for (const reply of timeline.messages.values()) if (reply.reply_to === message.id) this.placeMessage(reply);
    this.restyle();
  }

  toast(what, kind = "error") {
    const text = typeof what === "string" ? what : describeError(what);
    const toast = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status",
      on: { click: () => toast.remove() } }, text);
    this.toasts.append(toast);
    while (this.toasts.childElementCount > 4) this.toasts.firstElementChild.remove();
    setTimeout(() => toast.remove(), kind === "error" ? 7000 : 4000);
  }

  run(promise) {
    return Promise.resolve(promise).catch((error) => this.toast(error));
  }

  toggleConnection() {
    const connection = this.session.connection;
    if (!connection) return;
    if (connection.connected || connection.state === "reconnecting" || connection.state === "connecting") connection.disconnect();
    else connection.connect();
  }

  // -- rendering ------------------------------------------------------------------------------------

  renderAll() {
    this.renderMe();
    this.renderConnection();
    this.renderSidebar();
    this.renderNav();
    this.renderChat();
    this.renderDrawer();
  }

  renderMe() {
    const user = this.session.user;
    if (!user) return;
    replace(this.meAvatar, initials(user.name || user.id));
    this.meAvatar.style.setProperty("--hue", hue(user.id));
    this.meAvatar.dataset.status = this.session.status;
    this.meName.textContent = user.name || user.id;
    this.meId.textContent = user.id;
    this.meName.title = user.name || user.id;
    this.statusSelect.value = this.session.status;
  }

  renderConnection() {
    const session = this.session;
    const state = session.connState;
    const transport = session.connection ? session.connection.transport() : "";
    this.conn.dataset.state = state;
    const detail = state === "connected" ? (session.ready ? transport : `${transport}, waiting for session:ready`) : session.connDetail;
    this.connState.textContent = state;
    this.connDetail.textContent = detail ? ` · ${detail}` : "";
    this.conn.title = this.connText.textContent;
    const live = state === "connected" || state === "connecting" || state === "reconnecting";
    this.connectLabel.textContent = live ? "Disconnect" : "Connect";
    this.connectButton.title = live ? "Close the connection" : "Open the connection";
    this.connectButton.setAttribute("aria-label", this.connectLabel.textContent);
  }

  renderSidebar() {
    const session = this.session;
    if (!session.user) {
      replace(this.favList);
      replace(this.roomList);
      replace(this.peopleList);
      return;
    }
    // Favorites.
    replace(this.favList, session.favorites.map((f) => {
      const room = f.type === "room" ? session.rooms.get(f.id) : null;
      const label = room ? session.roomTitle(room) : f.name || (f.type === "user" ? session.nameOf(f.id) : f.id);
      const open = () => this.run(f.type === "room" ? session.openRoom(f.id) : session.startDirect(f.id));
      return h("li", { class: "fav-item" },
        h("button", { type: "button", class: "row-button", on: { click: open } },
          avatar(f.type === "user" ? f.id : `room:${f.id}`, label, f.type === "user" ? session.presenceOf(f.id) : null),
          h("span", { class: "row-main" }, h("span", { class: "row-title" }, label),
            h("span", { class: "row-sub" }, f.type === "room" ? "Room" : "Person"))));
    }));
    this.favSection.hidden = session.favorites.length === 0;
    // Rooms.
    const total = session.totalUnread();
    replace(this.roomsHeading, "Rooms", total ? h("span", { class: "badge" }, String(total)) : null);
    const rooms = session.sortedRooms();
    replace(this.roomList, rooms.length ? rooms.map((room) => this.roomItem(room))
      : h("li", { class: "empty" }, "No rooms yet: create a group or start a direct chat."));
    // People.
    const people = [...session.people.values()].sort((a, b) =>
      rank(a.status) - rank(b.status) || session.nameOf(a.user_id).localeCompare(session.nameOf(b.user_id)));
    replace(this.peopleList, people.length ? people.map((p) => this.personItem(p))
      : h("li", { class: "empty" }, "People you share a room with show here."));
  }

  roomItem(room) {
    const session = this.session;
    const title = session.roomTitle(room);
    const current = room.id === session.current;
    const favorite = session.isFavorite("room", room.id);
    const peer = session.peerOf(room);
    const last = room.last_message;
    const preview = last ? this.previewOf(last) : room.type === "group" ? plural(room.member_count || 0, "member") : "No messages yet";
    // A room is marked a favorite from its header; the list only shows the mark.
    return h("li", { class: ["room-item", current && "active"], dataset: { roomId: room.id } },
      h("button", { type: "button", class: "row-button", "aria-current": current ? "true" : null,
        on: { click: () => this.run(session.openRoom(room.id)) } },
        avatar(peer || `room:${room.id}`, title, peer ? session.presenceOf(peer) : null, room.type === "group"),
        h("span", { class: "row-main" },
          h("span", { class: "row-line" },
            h("span", { class: "row-title" }, favorite ? icon("star", "fav-mark") : null, title),
            h("time", { class: "row-time" }, last ? clock(last.created_at) : "")),
          h("span", { class: "row-line" },
            h("span", { class: "row-sub" }, preview),
            room.unread_count ? h("span", { class: "badge unread", title: `${room.unread_count} unread` }, String(room.unread_count)) : null))));
  }

  personItem(person) {
    const session = this.session;
    const name = session.nameOf(person.user_id);
    const favorite = session.isFavorite("user", person.user_id);
    const status = person.status || "offline";
    return h("li", { class: "person-item", dataset: { userId: person.user_id } },
      h("button", { type: "button", class: "row-button", title: `Message ${name}`,
        on: { click: () => this.run(session.startDirect(person.user_id)) } },
        avatar(person.user_id, name, status),
        h("span", { class: "row-main" },
          h("span", { class: "row-title" }, name),
          h("span", { class: "row-sub" }, h("span", { class: `status-text ${status}` }, statusLabel(status)),
            status === "offline" ? ` · ${ago(person.last_seen_at)}` : ""))),
      starButton(favorite, `${favorite ? "Unmark" : "Mark"} ${name} as favorite`,
        () => this.run(session.toggleFavorite("user", person.user_id))));
  }

  previewOf(message) {
    const session = this.session;
    if (message.type === "system") return this.systemText(message);
    const who = session.user && message.sender_id === session.user.id ? "You" : session.nameOf(message.sender_id);
    let text = message.content;
    if (message.deleted_at) text = "message deleted";
    else if (!text && message.attachment) text = `File: ${message.attachment.name}`;
    return `${who}: ${text || ""}`;
  }

  renderNav() {
    const session = this.session;
    const layout = this.root.isConnected ? this.layout() : "wide";
    const view = this.root.dataset.view;
    const drawerOpen = layout === "wide" || (layout === "medium" ? this.root.dataset.drawer === "open" : view === "panel");
    for (const [key, { button, badge }] of this.navButtons) {
      const selected = key === "rooms" || key === "chat" ? layout === "narrow" && view === key : drawerOpen && this.tab === key;
      button.setAttribute("aria-selected", String(selected));
      let count = 0;
      if (key === "rooms") count = session.totalUnread();
      if (key === "alerts") count = session.pending.length + session.live.length;
      badge.hidden = !count;
      badge.textContent = count ? String(count) : "";
    }
    this.navButtons.get("chat").button.disabled = !session.current;
  }

  renderChat() {
    const open = !!this.session.current;
    this.chat.dataset.open = open ? "yes" : "no";
    this.renderChatHeadNow();
    this.renderTimeline();
    this.renderTyping();
    this.renderComposer();
    if (!open) this.input.value = "";
  }

  renderChatHead() {
    this.renderChatHeadNow();
  }

  renderChatHeadNow() {
    const session = this.session;
    const room = session.current ? session.rooms.get(session.current) : null;
    if (!room) {
      replace(this.chatHead);
      return;
    }
    const title = session.roomTitle(room);
    const peer = session.peerOf(room);
    let subtitle;
    if (peer) {
      const status = session.presenceOf(peer);
      const person = session.people.get(peer);
      subtitle = [h("span", { class: `status-text ${status}` }, statusLabel(status)),
        status === "offline" && person ? ` · ${ago(person.last_seen_at)}` : "", ` · ${peer}`];
    } else if (room.type === "group") {
      subtitle = `${plural(room.member_count || 0, "member")}${session.isOwner(room) ? " · you own it" : ""}`;
    } else {
      subtitle = "Only you";
    }
    const favorite = session.isFavorite("room", room.id);
    replace(this.chatHead,
      h("button", { type: "button", class: "btn icon ghost back", "aria-label": "Back to rooms", on: { click: () => this.setView("rooms") } }, icon("back")),
      avatar(peer || `room:${room.id}`, title, peer ? session.presenceOf(peer) : null, room.type === "group"),
      h("div", { class: "chat-title" }, h("h2", {}, title), h("p", { class: "muted" }, subtitle)),
      starButton(favorite, `${favorite ? "Unmark" : "Mark"} this room as favorite`,
        () => this.run(session.toggleFavorite("room", room.id))),
      h("button", { type: "button", class: "btn small", "aria-label": "Members", title: "Members", on: { click: () => this.openTab("members") } },
        icon("users"), h("span", { class: "label" }, String(room.member_count || (peer ? 2 : 1)))));
  }

  renderTimeline() {
    const timeline = this.session.timeline;
    this.msgEls.clear();
    if (!timeline) {
      replace(this.list);
      replace(this.sendingList);
      this.olderButton.hidden = true;
      return;
    }
    const items = timeline.seqs().map((seq) => {
      const li = this.messageEl(timeline.messages.get(seq));
      this.msgEls.set(seq, li);
      return li;
    });
    if (!timeline.loaded) items.push(h("li", { class: "placeholder muted" }, "Loading messages…"));
    else if (!items.length) items.push(h("li", { class: "placeholder muted" }, "No messages yet. Say hello!"));
    replace(this.list, items);
    this.olderButton.hidden = !timeline.hasOlder;
    if (timeline.loaded && !timeline.hasOlder && items.length) {
      this.list.prepend(h("li", { class: "placeholder muted start" }, "The beginning of this room"));
    }
    this.restyle();
    this.renderSending();
  }

  /** Insert or replace one message's element, in seq order. */
  placeMessage(message) {
    const li = this.messageEl(message);
    const held = this.msgEls.get(message.seq);
    this.msgEls.set(message.seq, li);
    if (held) {
      held.replaceWith(li);
      return;
    }
    for (const placeholder of this.list.querySelectorAll(".placeholder:not(.start)")) placeholder.remove();
    let after = null;
    for (const [seq, el] of this.msgEls) if (seq > message.seq && el !== li && (!after || seq < after.seq)) after = { seq, el };
    if (after && after.el.isConnected) after.el.before(li);
    else this.list.append(li);
  }

  /** Group consecutive messages of one sender, and put the "seen by" marks. */
  restyle() {
    let previous = null;
    for (const li of this.list.children) {
      if (!li.dataset.seq) continue;
      const sender = li.dataset.sender;
      const at = Number(li.dataset.at);
      const grouped = previous && !li.classList.contains("system") && !previous.classList.contains("system")
        && previous.dataset.sender === sender && at - Number(previous.dataset.at) < GROUP_GAP_MS;
      li.classList.toggle("cont", !!grouped);
      previous = li;
    }
    this.renderSeen();
  }

  /** "Seen by X" goes under the last message X has read that X did not write: a receipt says someone read
   * what others wrote (one's own messages and system messages are never unread, so never "seen"). Never
   * oneself. */
  renderSeen() {
    for (const el of this.list.querySelectorAll(".seen")) el.remove();
    const session = this.session;
    const timeline = session.timeline;
    if (!timeline) return;
    const seqs = timeline.seqs();
    const readers = new Map();
    for (const [userId, readSeq] of timeline.reads) {
      if (session.user && userId === session.user.id) continue;
      let target = null;
      for (const seq of seqs) {
        if (seq > readSeq) break;
        const message = timeline.messages.get(seq);
        if (message && message.sender_id !== userId && message.type !== "system") target = seq;
      }
      if (target === null) continue;
      if (!readers.has(target)) readers.set(target, []);
      readers.get(target).push(session.nameOf(userId));
    }
    for (const [seq, names] of readers) {
      const li = this.msgEls.get(seq);
      if (li) li.append(h("div", { class: "seen" }, `Seen by ${names.join(", ")}`));
    }
  }

  messageEl(message) {
    const session = this.session;
    const me = session.user ? session.user.id : null;
    const mine = message.sender_id === me;
    const data = { seq: message.seq, id: message.id, sender: message.sender_id, at: Date.parse(message.created_at) || 0 };
    if (message.type === "system") {
      return h("li", { class: "msg system", dataset: data },
        h("span", { class: "system-text" }, this.systemText(message)), " ",
        h("time", { datetime: message.created_at, title: message.created_at }, clock(message.created_at)));
    }
    const deleted = !!message.deleted_at;
    const room = session.rooms.get(message.room_id);
    const li = h("li", { class: ["msg", mine && "mine", deleted && "deleted"], dataset: data });
    const name = session.nameOf(message.sender_id);
    const bubble = h("div", { class: "bubble", on: { click: (e) => this.touch(li, e) } });
    bubble.append(h("div", { class: "msg-head" },
      h("span", { class: "sender", title: message.sender_id }, mine ? "You" : name),
      h("time", { datetime: message.created_at, title: message.created_at }, clock(message.created_at))));
    if (message.reply_to) bubble.append(this.quoteEl(message));
    if (deleted) {
      bubble.append(h("p", { class: "content tombstone" }, "Message deleted"));
    } else {
      if (message.attachment) bubble.append(this.attachmentEl(message));
      const edited = message.edited_at
        ? h("span", { class: "edited", title: `edited ${message.edited_at}` }, "edited") : null;
      if (this.editing === message.seq) bubble.append(this.editForm(message));
      else if (message.content) bubble.append(h("p", { class: "content" }, h("span", { class: "text" }, message.content), edited));
      else if (edited) bubble.append(edited);
      const reactions = (message.reactions || []).map((r) => {
        const reacted = r.user_ids.includes(me);
        return h("button", { type: "button", class: ["reaction", reacted && "mine"], "aria-pressed": String(reacted),
          title: r.user_ids.map((id) => session.nameOf(id)).join(", "),
          "aria-label": `${r.emoji} ${r.count}, ${reacted ? "remove my reaction" : "react"}`,
          on: { click: () => this.run(session.react(message, r.emoji)) } },
          h("span", { class: "emoji" }, r.emoji), h("span", { class: "count" }, String(r.count)));
      });
      if (reactions.length) bubble.append(h("div", { class: "reactions" }, reactions));
    }
    append(li, [mine ? null : avatar(message.sender_id, name, null), bubble,
      !deleted && this.editing !== message.seq ? this.actionsEl(message, mine, session.isOwner(room)) : null]);
    return li;
  }

  /** A tap on a message shows its actions (touch screens have no hover); a tap elsewhere hides them. */
  touch(li, event) {
    if (event.target.closest("button, a, input, textarea, video, audio")) return;
    const on = !li.classList.contains("touched");
    for (const other of this.list.querySelectorAll(".msg.touched")) other.classList.remove("touched");
    li.classList.toggle("touched", on);
  }

  systemText(message) {
    const session = this.session;
    const meta = message.meta || {};
    const who = (id) => (session.user && id === session.user.id ? "you" : session.nameOf(id));
    const names = (ids) => (ids || []).map(who).join(", ");
    const by = capital(who(meta.by || message.sender_id));
    switch (meta.event) {
      case "direct_started": return `${by} started this conversation`;
      case "members_added": return `${by} added ${names(meta.user_ids)}`;
      case "member_removed": return `${by} removed ${names(meta.user_ids)}`;
      case "member_left": return `${capital(names(meta.user_ids))} left`;
      default: return message.content || "Room event";
    }
  }

  quoteEl(message) {
    const session = this.session;
    const original = session.timeline ? session.timeline.byId(message.reply_to) : null;
    let text = "an earlier message";
    if (original) {
      const body = original.deleted_at ? "message deleted" : original.content || (original.attachment ? `File: ${original.attachment.name}` : "");
      text = `${session.nameOf(original.sender_id)}: ${body}`;
    }
    return h("button", { type: "button", class: "quote", title: "Show the message replied to",
      on: { click: () => this.reveal(message.reply_to) } }, h("span", { class: "quote-mark" }, "↪ "), text);
  }

  attachmentEl(message) {
    const session = this.session;
    const file = message.attachment;
    if (file.url && file.kind === "image") {
      const img = h("img", { src: file.url, alt: file.name, loading: "lazy", class: "att-img" });
      let retried = false;
      img.addEventListener("error", () => {
        if (retried) return;
        retried = true;
        session.refreshLink(message).then((url) => { img.src = safeUrl(url); }).catch(() => {});
      });
      return h("a", { class: "att att-image", href: file.url, target: "_blank", rel: "noopener noreferrer", title: file.name }, img);
    }
    if (file.url && file.kind === "video") return h("video", { class: "att att-video", src: file.url, controls: true, preload: "metadata" });
    if (file.url && file.kind === "audio") return h("audio", { class: "att att-audio", src: file.url, controls: true, preload: "metadata" });
    return h("a", { class: "att att-file", href: file.url || "#", download: file.name, target: "_blank", rel: "noopener noreferrer" },
      icon("file", "file-icon"),
      h("span", { class: "file-name" }, file.name),
      h("span", { class: "muted" }, `${bytes(file.size)} · ${file.content_type}`));
  }

  actionsEl(message, mine, owner) {
    const session = this.session;
    const button = (label, icon, onClick, extra = {}) => h("button", { type: "button", class: "act", title: label,
      "aria-label": label, on: { click: onClick }, ...extra }, icon);
    const picker = h("div", { class: "picker", role: "group", "aria-label": "Reactions" }, h("div", { class: "picker-box" },
      QUICK_REACTIONS.map((emoji) => h("button", { type: "button", class: "pick", "aria-label": `React ${emoji}`,
        on: { click: () => { picker.classList.remove("open"); this.run(session.react(message, emoji)); } } }, emoji)),
      h("form", { class: "pick-other", on: { submit: (e) => {
        e.preventDefault();
        const value = e.target.elements.emoji.value.trim();
        if (value) this.run(session.react(message, value));
        picker.classList.remove("open");
      } } }, h("input", { name: "emoji", class: "input", maxlength: 32, placeholder: "Other", "aria-label": "Another emoji" }))));
    const actions = h("div", { class: "msg-actions" },
      button("Reply", icon("reply"), () => {
        session.setReply(message);
        this.input.focus();
      }),
      button("React", icon("smile"), () => {
        for (const open of this.list.querySelectorAll(".picker.open")) if (open !== picker) open.classList.remove("open");
        picker.classList.toggle("open"); // a row under the message (page.css): it covers nothing
        if (picker.classList.contains("open")) picker.scrollIntoView({ block: "nearest" });
      }),
      mine ? button("Edit", icon("edit"), () => this.startEdit(message)) : null,
      mine || owner ? this.deleteButton(message) : null);
    return [actions, picker];
  }

  deleteButton(message) {
    let armed = null;
    const button = h("button", { type: "button", class: "act danger", title: "Delete", "aria-label": "Delete", on: { click: () => {
      if (!armed) {
        button.classList.add("armed");
        button.textContent = "Delete?";
        button.setAttribute("aria-label", "Confirm delete");
        armed = setTimeout(() => {
          armed = null;
          button.classList.remove("armed");
          replace(button, icon("trash"));
          button.setAttribute("aria-label", "Delete");
        }, 4000);
        return;
      }
      clearTimeout(armed);
      this.run(this.session.remove(message));
    } } }, icon("trash"));
    return button;
  }

  startEdit(message) {
    this.editing = message.seq;
    this.editDraft = message.content;
    this.placeMessage(message);
    this.restyle();
    const area = $(this.msgEls.get(message.seq), ".edit-area");
    if (area) {
      area.focus();
      area.setSelectionRange(area.value.length, area.value.length);
    }
  }

  editForm(message) {
    const area = h("textarea", { class: "input edit-area", rows: 2, "aria-label": "Edit message", maxlength: 4000 });
    area.value = this.editDraft ?? message.content;
    area.addEventListener("input", () => { this.editDraft = area.value; });
    const stop = () => {
      this.editing = null;
      this.editDraft = null;
      const current = this.session.timeline && this.session.timeline.messages.get(message.seq);
      if (current) {
        this.placeMessage(current);
        this.restyle();
      }
    };
    const form = h("form", { class: "edit-form", on: { submit: (e) => {
      e.preventDefault();
      const content = area.value.trim();
      if (!content || content === message.content) return stop();
      this.session.edit(message, content).then(stop, (error) => this.toast(error));
    } } }, area, h("div", { class: "row" },
      h("button", { type: "submit", class: "btn primary small" }, "Save"),
      h("button", { type: "button", class: "btn small ghost", on: { click: stop } }, "Cancel")));
    area.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      } else if (e.key === "Escape") {
        stop();
      }
    });
    return form;
  }

  /** Scroll to a message (loading older pages if need be) and flash it. */
  async reveal(messageId) {
    const timeline = this.session.timeline;
    if (!timeline) return;
    let message = timeline.byId(messageId);
    if (!message) {
      await this.session.loadOlder();
      message = timeline.byId(messageId);
    }
    if (message) this.flash(message.seq);
    else this.toast("That message is further back than the history loaded", "info");
  }

  flash(seq) {
    const li = this.msgEls.get(seq);
    if (!li) return;
    li.scrollIntoView({ block: "center" });
    li.classList.remove("flash");
    void li.offsetWidth;
    li.classList.add("flash");
  }

  renderSending() {
    const session = this.session;
    const timeline = session.timeline;
    if (!timeline) {
      replace(this.sendingList);
      return;
    }
    replace(this.sendingList, [...timeline.sending.entries()].map(([ref, held]) =>
      h("li", { class: ["msg", "mine", "outgoing", held.error && "failed"] },
        h("div", { class: "bubble" },
          h("p", { class: "content" }, held.payload.content || "File"),
          held.error
            ? h("div", { class: "send-state" }, `Not sent: ${describeError(held.error)} `,
              h("button", { type: "button", class: "btn small", on: { click: () => session.retry(ref) } }, "Retry"),
              h("button", { type: "button", class: "btn small ghost", on: { click: () => session.discard(ref) } }, "Discard"))
            : h("div", { class: "send-state muted" }, "Sending…")))));
  }

  renderTyping() {
    const session = this.session;
    const timeline = session.timeline;
    const names = timeline ? [...timeline.typing.keys()].map((id) => session.nameOf(id)) : [];
    if (!names.length) {
      replace(this.typingLine);
      this.typingLine.classList.remove("on");
      return;
    }
    const who = names.length === 1 ? `${names[0]} is` : names.length === 2 ? `${names[0]} and ${names[1]} are` : `${names.length} people are`;
    replace(this.typingLine, h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")), `${who} typing…`);
    this.typingLine.classList.add("on");
  }

  renderComposer() {
    const session = this.session;
    const parts = [];
    if (session.replyTo) {
      const original = session.replyTo;
      parts.push(h("div", { class: "context reply-context" },
        h("span", { class: "context-text" }, h("strong", {}, `Replying to ${session.nameOf(original.sender_id)}: `),
          original.content || (original.attachment ? original.attachment.name : "")),
        h("button", { type: "button", class: "btn icon ghost", "aria-label": "Cancel the reply", on: { click: () => session.setReply(null) } }, icon("close"))));
    }
    const file = session.attachment;
    if (file) {
      parts.push(h("div", { class: "context attach-context" },
        file.preview ? h("img", { class: "thumb", src: file.preview, alt: "" }) : icon("file", "file-icon"),
        h("span", { class: "context-text" }, h("strong", {}, file.name), ` · ${bytes(file.size)} · `,
          file.uploading ? "uploading…" : `ready (${file.content_type || file.kind})`),
        h("button", { type: "button", class: "btn icon ghost", "aria-label": "Remove the file", on: { click: () => session.clearAttachment() } }, icon("close"))));
    }
    replace(this.composerContext, parts);
  }

  renderDrawer() {
    const titles = Object.fromEntries(TABS);
    this.drawerTitle.textContent = titles[this.tab];
    for (const [key, panel] of Object.entries(this.panels)) panel.hidden = key !== this.tab;
    this.renderMembers();
    this.renderAlerts();
    this.renderSearch();
  }

  renderMembers() {
    const session = this.session;
    const panel = this.panels.members;
    const room = session.current ? session.rooms.get(session.current) : null;
    if (!room) {
      replace(panel, h("p", { class: "empty" }, "Open a room to see its members."));
      return;
    }
    const owner = session.isOwner(room);
    const members = session.members.get(room.id);
    const memberItems = members
      ? members.map((m) => {
        const me = session.user && m.user_id === session.user.id;
        const status = session.presenceOf(m.user_id);
        const name = session.nameOf(m.user_id);
        return h("li", { class: "member-item", dataset: { userId: m.user_id } },
          avatar(m.user_id, name, status),
          h("span", { class: "row-main" },
            h("span", { class: "row-title" }, name, me ? h("span", { class: "muted" }, " (you)") : null),
            h("span", { class: "row-sub" }, m.user_id, " · ", h("span", { class: `status-text ${status}` }, statusLabel(status)))),
          m.role === "owner" ? h("span", { class: "pill" }, "owner") : null,
          owner && !me && room.type === "group"
            ? h("button", { type: "button", class: "btn small ghost danger-text", "aria-label": `Remove ${name}`,
              on: { click: () => this.run(session.removeMember(m.user_id)) } }, "Remove")
            : null);
      })
      : [h("li", { class: "muted" }, "Loading…")];
    const ids = h("input", { class: "input", name: "user_ids", placeholder: "User ids: dave, erin", "aria-label": "User ids to add", autocomplete: "off" });
    const addForm = owner && room.type === "group"
      ? h("form", { class: "mini-form", on: { submit: (e) => {
        e.preventDefault();
        const list = splitIds(ids.value);
        if (list.length) this.run(session.addMembers(list).then(() => { ids.value = ""; }));
      } } }, h("div", { class: "row" }, ids, h("button", { type: "submit", class: "btn primary small" }, "Add")))
      : null;
    replace(panel,
      h("div", { class: "room-card" },
        h("p", { class: "room-card-title" }, session.roomTitle(room)),
        h("p", { class: "muted" }, `${room.type === "group" ? "Group" : "Direct"} room · id ${room.id}`,
          room.owner_id ? ` · owner ${session.nameOf(room.owner_id)}` : "")),
      h("h3", {}, `Members (${members ? members.length : room.member_count || 0})`),
      h("ul", { class: "list members" }, memberItems),
      addForm,
      room.type === "group"
        ? h("div", { class: "row" },
          h("button", { type: "button", class: "btn small danger", on: { click: () => this.run(session.leaveRoom()) } }, "Leave room"),
          h("button", { type: "button", class: "btn small ghost", on: { click: () => this.run(session.loadMembers(room.id)) } }, "Refresh"))
        : h("p", { class: "hint" }, "A direct room keeps its two members: nobody is added, removed or leaves."),
      owner ? null : room.type === "group" ? h("p", { class: "hint" }, "Only the owner adds and removes members.") : null);
  }

  renderAlerts() {
    const session = this.session;
    const item = (n, actions) => {
      const [who, where] = session.whoAndWhere(n.sender_id, n.room_id);
      const shown = session.alertText(n);
      return h("li", { class: "alert-item", dataset: { roomId: n.room_id, seq: n.seq } },
        avatar(n.sender_id, n.sender_name || session.nameOf(n.sender_id), null),
        h("div", { class: "row-main" },
          h("span", { class: "row-title" }, session.user && n.sender_id === session.user.id ? who : n.sender_name || who,
            h("span", { class: "muted" }, where)),
          h("span", { class: ["excerpt", shown.deleted && "tombstone"] }, shown.text,
            shown.edited ? h("span", { class: "edited" }, "edited") : null),
          h("span", { class: "row-sub" }, clock(n.created_at), ` · #${n.seq}`),
          h("div", { class: "row" }, actions)));
    };
    const open = (n) => h("button", { type: "button", class: "btn small", on: { click: () => this.openFromPanel(n.room_id) } }, "Open");
    const pending = session.pending.map((n) => item(n, [open(n),
      h("button", { type: "button", class: "btn small", on: { click: () => this.run(session.acknowledge([n.id]).then((count) =>
        this.toast(`${plural(count, "notification")} acknowledged`, "info"))) } }, "Acknowledge")]));
    const live = session.live.map((n, index) => item(n, [open(n),
      h("button", { type: "button", class: "btn small ghost", on: { click: () => session.dismissLive(index) } }, "Dismiss")]));
    replace(this.panels.alerts,
      h("section", { class: "alert-section" },
        h("div", { class: "section-head" }, h("h3", {}, `Pending (${session.pending.length})`),
          h("button", { type: "button", class: "btn small", disabled: !session.pending.length,
            on: { click: () => this.run(session.acknowledgeAll().then((count) => this.toast(`${plural(count, "notification")} acknowledged`, "info"))) } }, "Acknowledge all"),
          h("button", { type: "button", class: "btn small ghost", title: `GET ${API}/notifications`,
            on: { click: () => this.run(session.fetchPending()) } }, "Fetch")),
        h("p", { class: "hint" }, "Stored while you were offline; delivered on connect until acknowledged."),
        h("ul", { class: "list alerts pending-list" }, pending.length ? pending : h("li", { class: "empty" }, "Nothing pending."))),
      h("section", { class: "alert-section" },
        h("div", { class: "section-head" }, h("h3", {}, `Live (${session.live.length})`),
          h("button", { type: "button", class: "btn small ghost", disabled: !session.live.length, on: { click: () => session.dismissLive() } }, "Clear")),
        h("p", { class: "hint" }, "New messages in rooms you are not looking at (notification:new)."),
        h("ul", { class: "list alerts live-list" }, live.length ? live : h("li", { class: "empty" }, "No new messages elsewhere."))));
  }

  renderSearch() {
    const session = this.session;
    const search = session.search;
    const hits = search.hits.map((hit) => {
      const [who, where] = session.whoAndWhere(hit.sender_id, hit.room_id);
      return h("li", { class: "hit" }, h("button", { type: "button", class: "row-button", on: { click: () => this.openHit(hit) } },
        h("span", { class: "row-main" },
          h("span", { class: "row-title" }, who,
            h("span", { class: "muted" }, `${where} · ${clock(hit.created_at)}`)),
          h("span", { class: "excerpt" }, hit.excerpt.map((part) => (part.match ? h("mark", {}, part.text) : part.text))))));
    });
    replace(this.searchResults,
      search.busy ? h("p", { class: "muted" }, "Searching…") : null,
      search.done && !hits.length && !search.busy ? h("p", { class: "empty" }, `Nothing found for “${search.q}”.`) : null,
      hits.length ? h("ul", { class: "list hits" }, hits) : null,
      search.next && !search.busy
        ? h("button", { type: "button", class: "btn small", on: { click: () => session.runSearch(search.q, search.roomOnly, true) } }, "More results")
        : null);
  }

  /** Open a room from the side panel (a search hit, an alert): the chat comes into view, not under the panel. */
  async openFromPanel(roomId) {
    await this.run(this.session.openRoom(roomId));
    if (this.layout() === "medium") this.closeDrawer(); // the drawer floats over the chat at this width
    else if (this.layout() === "narrow") this.showChat();
  }

  async openHit(hit) {
    await this.openFromPanel(hit.room_id);
    if (await this.session.reach(hit.seq)) {
      this.renderTimeline();
      this.flash(hit.seq);
    }
  }
}

// -- small pieces ---------------------------------------------------------------------------------------

function avatar(id, name, status, group = false) {
  const el = h("span", { class: ["avatar", group && "group"], "aria-hidden": "true" }, initials(name));
  el.style.setProperty("--hue", hue(id));
  if (status) el.append(h("span", { class: "presence", dataset: { status } }));
  return el;
}

function starButton(on, label, onClick) {
  return h("button", { type: "button", class: ["star", on && "on"], "aria-pressed": String(on), "aria-label": label, title: label,
    on: { click: onClick } }, icon("star"));
}

function statusLabel(status) {
  return { online: "Online", away: "Away", busy: "Busy", offline: "Offline" }[status] || status;
}

function rank(status) {
  return { online: 0, busy: 1, away: 2, offline: 3 }[status] ?? 4;
}

function capital(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

function splitIds(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

export function describeError(error) {
  if (!error) return "failed";
  if (typeof error === "string") return error;
  return error.code ? `${error.message} (${error.code})` : error.message || String(error);
}

function signInError(error) {
  if (error && error.status === 404) return "Development sign-in is off on this server (DEV_MODE): paste a token instead.";
  return describeError(error);
}
