/*
 * bell.module.js — livebell's drop-in bell, built on the client in livebell.module.js.
 *
 * {% livebell_bell %} renders the markup (templates/livebell/bell.html) and loads this
 * module, which mounts every element with [data-livebell] on the page:
 * data-livebell="bell" is the header's bell with its popover, "page" the full
 * notifications page. Strings come from Django's JavaScript catalog (gettext), in the
 * page's language. See docs/widget.md.
 */
import { LiveBell } from "./livebell.module.js";

const django = globalThis.django || {};
function gettext(text) { return django.gettext ? django.gettext(text) : text; }
function ngettext(one, many, count) {
  return django.ngettext ? django.ngettext(one, many, count) : (count === 1 ? one : many);
}
function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (_, key) => String(values[key]));
}

const PAGE_SIZE = 20;
const TOAST_BATCH_MS = 250; // a burst within this window is one toast
const TOAST_MAX = 3;
const TOAST_LIFE_MS = 8000;
const UNDO_MS = 5000;
const BADGE_MAX = 99;
const RECEIVED_BATCH_MS = 500; // live notifications acknowledged together (web push)

// One client per page, shared by the bell and the page (and their tabs, through it).
let sharedClient = null;
function clientFor(root) {
  if (sharedClient === null) {
    sharedClient = new LiveBell({
      api: root.dataset.api,
      path: root.dataset.socket,
      csrfToken: root.dataset.csrf,
      lastId: root.dataset.lastId ? Number(root.dataset.lastId) : null,
    });
  }
  return sharedClient;
}

// What this page received live, sent in one request per moment whichever of its roots
// (the bell, the full page) got it: they share one client, so each frame arrives at both.
const receivedLive = { ids: new Set(), through: null, timer: null };
function acknowledgeLive(client, { id, through }) {
  if (typeof id === "number") { receivedLive.ids.add(id); }
  if (typeof through === "number") { receivedLive.through = Math.max(receivedLive.through || 0, through); }
  if (receivedLive.timer !== null) { return; }
  receivedLive.timer = setTimeout(() => {
    const ids = Array.from(receivedLive.ids);
    const through = receivedLive.through;
    receivedLive.ids.clear();
    receivedLive.through = null;
    receivedLive.timer = null;
    // At worst, a push the user also gets.
    client.receivedLive(ids, through === null ? undefined : through).catch(() => {});
  }, RECEIVED_BATCH_MS);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) { node.className = className; }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

const ICONS = {
  check: "M13.78 4.22a.75.75 0 0 1 0 1.06l-7.25 7.25a.75.75 0 0 1-1.06 0L2.22 9.28a.75.75 0 0 1 1.06-1.06L6 10.94l6.72-6.72a.75.75 0 0 1 1.06 0Z",
  dot: "M8 4a4 4 0 1 1 0 8 4 4 0 0 1 0-8Z",
  trash: "M11 1.75V3h2.25a.75.75 0 0 1 0 1.5H2.75a.75.75 0 0 1 0-1.5H5V1.75C5 .784 5.784 0 6.75 0h2.5C10.216 0 11 .784 11 1.75ZM6.5 1.75V3h3V1.75a.25.25 0 0 0-.25-.25h-2.5a.25.25 0 0 0-.25.25ZM4.997 6.178a.75.75 0 1 0-1.493.144L4.916 14.5A1.75 1.75 0 0 0 6.658 16h2.684a1.75 1.75 0 0 0 1.742-1.5l1.413-8.178a.75.75 0 0 0-1.494-.144L9.592 14.35a.25.25 0 0 1-.25.15H6.658a.25.25 0 0 1-.249-.15Z",
  alert: "M6.457 1.047c.659-1.234 2.427-1.234 3.086 0l6.082 11.378A1.75 1.75 0 0 1 14.082 15H1.918a1.75 1.75 0 0 1-1.543-2.575Zm1.763.707a.25.25 0 0 0-.44 0L1.698 13.132a.25.25 0 0 0 .22.368h12.164a.25.25 0 0 0 .22-.368Zm.53 3.996v2.5a.75.75 0 0 1-1.5 0v-2.5a.75.75 0 0 1 1.5 0ZM9 11a1 1 0 1 1-2 0 1 1 0 0 1 2 0Z",
  caughtUp: "M0 8a8 8 0 1 1 16 0A8 8 0 0 1 0 8Zm1.5 0a6.5 6.5 0 1 0 13 0 6.5 6.5 0 0 0-13 0Zm10.28-1.72-4.5 4.5a.75.75 0 0 1-1.06 0l-2-2a.75.75 0 0 1 1.06-1.06l1.47 1.47 3.97-3.97a.75.75 0 0 1 1.06 1.06Z",
  bell: "M8 16a2 2 0 0 0 1.985-1.75c.017-.137-.097-.25-.235-.25h-3.5c-.138 0-.252.113-.235.25A2 2 0 0 0 8 16ZM3 5a5 5 0 0 1 10 0v2.947c0 .05.015.098.042.139l1.703 2.555A1.519 1.519 0 0 1 13.482 13H2.518a1.516 1.516 0 0 1-1.263-2.36l1.703-2.554A.255.255 0 0 0 3 7.947Zm5-3.5A3.5 3.5 0 0 0 4.5 5v2.947c0 .346-.102.683-.294.97l-1.703 2.556a.017.017 0 0 0-.003.01l.001.006c0 .002.002.004.004.006l.006.004.007.001h10.964l.007-.001.006-.004.004-.006.001-.007a.017.017 0 0 0-.003-.01l-1.703-2.554a1.745 1.745 0 0 1-.294-.97V5A3.5 3.5 0 0 0 8 1.5Z",
  close: "M3.72 3.72a.75.75 0 0 1 1.06 0L8 6.94l3.22-3.22a.75.75 0 1 1 1.06 1.06L9.06 8l3.22 3.22a.75.75 0 1 1-1.06 1.06L8 9.06l-3.22 3.22a.75.75 0 0 1-1.06-1.06L6.94 8 3.72 4.78a.75.75 0 0 1 0-1.06Z",
};

function icon(name, className) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  if (className) { svg.setAttribute("class", className); }
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}

function iconButton(className, name, label) {
  const button = element("button", "lb-icon-button " + className);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.title = label;
  button.appendChild(icon(name));
  return button;
}

// A user's avatar: the same rule as livebell/avatars.py ({% livebell_avatar %}), so a
// site's avatars match the bell's (tests/test_widget.py runs both on the same names).
function initials(name) {
  const letters = Array.from((name || "?").trim());
  if (!letters.length) { return "?"; }
  if (/[\u3400-\u9fff]/.test(letters[0])) { return letters[0]; }
  return letters.slice(0, 2).join("").toUpperCase();
}

function hue(name) {
  let hash = 0;
  for (const character of name || "") { hash = (hash * 31 + character.codePointAt(0)) % 360; }
  return hash;
}

/** The sentence of a notification: the server's `text` when it sent one (in the reader's
 * language), else actor + verb + target, as nodes (the actor and the target emphasised). */
function sentence(notification) {
  const text = element("span", "lb-text");
  if (typeof notification.text === "string" && notification.text) {
    // The sentence is plain text; its actor and target, where they appear in it (in
    // that order, whatever the language puts around them), are emphasised.
    let rest = notification.text;
    const parts = [
      [notification.actor && notification.actor.username, "strong", "lb-actor"],
      [notification.target && notification.target.text, "span", "lb-target"],
    ];
    for (const [needle, tag, className] of parts) {
      const at = needle ? rest.indexOf(needle) : -1;
      if (at < 0) { continue; }
      text.appendChild(document.createTextNode(rest.slice(0, at)));
      text.appendChild(element(tag, className, needle));
      rest = rest.slice(at + needle.length);
    }
    text.appendChild(document.createTextNode(rest));
    return text;
  }
  if (notification.actor) {
    text.appendChild(element("strong", "lb-actor", notification.actor.username));
    text.appendChild(document.createTextNode(" "));
  }
  text.appendChild(document.createTextNode(notification.verb));
  if (notification.target && notification.target.text) {
    text.appendChild(document.createTextNode(" “"));
    text.appendChild(element("span", "lb-target", notification.target.text));
    text.appendChild(document.createTextNode("”"));
  }
  return text;
}

function plainSentence(notification) {
  return sentence(notification).textContent;
}

function language() {
  return document.documentElement.lang || navigator.language || "en";
}

const UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
  ["hour", 3600], ["minute", 60]];
let relativeFormat = null;
function relativeTime(iso) {
  if (relativeFormat === null) {
    relativeFormat = new Intl.RelativeTimeFormat(language(), { numeric: "auto" });
  }
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) { return relativeFormat.format(Math.round(seconds / size), unit); }
  }
  return gettext("just now");
}

function exactTime(iso) {
  return new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
}

function statusText(state) {
  switch (state) {
    case "connecting": return gettext("Connecting…");
    case "reconnecting": return gettext("Reconnecting…");
    case "offline": return gettext("Offline — new notifications will appear when you are back online");
    case "unauthenticated": return gettext("You signed out — log in again");
    case "closed": return gettext("Not connected");
    default: return "";
  }
}

// The page-wide banner of a session that ended while the page was up (a sign-out in
// another tab or window, a password change): said only in the bell's popover, which is
// closed, nobody would see it. One per page, shown once; the user can dismiss it.
let signedOutBanner = null;
function showSignedOutBanner() {
  if (signedOutBanner !== null) { return; }
  const banner = element("div", "livebell-banner");
  banner.setAttribute("role", "alert");
  banner.appendChild(icon("alert", "lb-banner-icon"));
  banner.appendChild(element("p", "lb-banner-text",
    gettext("You signed out in another tab or window. Reload to refresh your session.")));
  const reload = element("button", "lb-button lb-banner-reload", gettext("Reload"));
  reload.type = "button";
  reload.addEventListener("click", () => location.reload());
  banner.appendChild(reload);
  const dismiss = iconButton("lb-banner-close", "close", gettext("Dismiss"));
  dismiss.addEventListener("click", () => banner.remove());
  banner.appendChild(dismiss);
  document.body.prepend(banner);
  signedOutBanner = banner;
}

/**
 * A list of notifications, kept live: the popover's list and the full page's list.
 * `filters()` gives the REST filters; `onChange()` is called when the items change.
 */
class NotificationList {
  constructor(bell, list, options) {
    this.bell = bell;
    this.list = list;
    this.options = options;
    this.items = new Map(); // id -> notification, as shown
    this.next = null;
    this.loaded = false;
    this.loading = null;
    this.stale = false;
    this.pendingDelete = null;
    this.sentinel = element("li", "lb-sentinel");
    this.sentinel.setAttribute("aria-hidden", "true");
    this.observer = typeof IntersectionObserver === "function"
      ? new IntersectionObserver((entries) => {
        if (entries.some((entry) => entry.isIntersecting)) { this.more(); }
      }, { root: options.scrollRoot || null, rootMargin: "80px" })
      : null;
    list.addEventListener("click", (event) => this._click(event));
    window.addEventListener("pagehide", () => this.flushDelete());
  }

  matches(notification) {
    const filters = this.options.filters();
    if (filters.unread === true && !notification.unread) { return false; }
    if (filters.unread === false && notification.unread) { return false; }
    if (filters.level && notification.level !== filters.level) { return false; }
    return true;
  }

  newestShown() {
    let newest = null;
    for (const id of this.items.keys()) { if (newest === null || id > newest) { newest = id; } }
    return newest;
  }

  /** (Re)load the first page. */
  reload() {
    this.flushDelete();
    const filters = { ...this.options.filters(), pageSize: PAGE_SIZE };
    const loading = this.bell.list(filters).then((page) => {
      if (this.loading !== loading) { return; }
      this.items.clear();
      this.list.replaceChildren();
      // Loaded before _append tells onChange: an empty first page shows the empty state.
      this.loaded = true;
      this.stale = false;
      this._append(page);
      this.options.onError(null);
    }).catch((error) => this._failed(error)).finally(() => {
      if (this.loading === loading) { this.loading = null; }
    });
    this.loading = loading;
    return loading;
  }

  /** Load the next (older) page, for infinite scroll. */
  more() {
    if (!this.next || this.loading) { return; }
    const url = this.next;
    const loading = this.bell.page(url).then((page) => {
      if (this.loading === loading) { this._append(page); }
    }).catch((error) => this._failed(error)).finally(() => {
      if (this.loading === loading) { this.loading = null; }
    });
    this.loading = loading;
  }

  _failed(error) {
    if (error && error.status === 401 || error && error.status === 403) {
      this.options.onError(gettext("You signed out — log in again"));
    } else {
      this.options.onError(gettext("Could not load notifications. Check your connection and try again."));
    }
  }

  _append(page) {
    this.sentinel.remove();
    for (const notification of page.results) {
      if (!this.items.has(notification.id)) {
        this.items.set(notification.id, notification);
        this.list.appendChild(this._render(notification));
      }
    }
    this.next = page.next;
    if (this.next) {
      this.list.appendChild(this.sentinel);
      if (this.observer) { this.observer.observe(this.sentinel); }
    }
    this.options.onChange();
  }

  clear() {
    this.items.clear();
    this.list.replaceChildren();
    this.next = null;
    this.loaded = false;
    this.options.onChange();
  }

  _render(notification) {
    const item = element("li", "lb-item");
    item.dataset.id = String(notification.id);
    item.dataset.level = notification.level;
    const url = notification.target && notification.target.url;
    const link = element(url ? "a" : "button", "lb-link");
    if (url) { link.href = this.bell.goUrl(notification.id); } else { link.type = "button"; }
    const avatar = element("span", "lb-avatar", initials(notification.actor && notification.actor.username));
    avatar.setAttribute("aria-hidden", "true");
    avatar.style.setProperty("--lb-avatar-hue", String(hue(notification.actor ? notification.actor.username : "")));
    const body = element("span", "lb-body");
    const unreadLabel = element("span", "lb-visually-hidden lb-unread-label", gettext("Unread:") + " ");
    body.appendChild(unreadLabel);
    body.appendChild(sentence(notification));
    const time = element("time", "lb-time", relativeTime(notification.created_at));
    time.dateTime = notification.created_at;
    time.title = exactTime(notification.created_at);
    body.appendChild(time);
    link.appendChild(avatar);
    link.appendChild(body);
    const dot = element("span", "lb-dot");
    dot.setAttribute("aria-hidden", "true");
    link.appendChild(dot);
    const actions = element("span", "lb-actions");
    actions.appendChild(iconButton("lb-toggle", "check", gettext("Mark as read")));
    actions.appendChild(iconButton("lb-delete", "trash", gettext("Delete")));
    item.appendChild(link);
    item.appendChild(actions);
    this._setUnread(item, notification.unread);
    return item;
  }

  _setUnread(item, unread) {
    item.classList.toggle("lb-unread", unread);
    const toggle = item.querySelector(".lb-toggle");
    const label = unread ? gettext("Mark as read") : gettext("Mark as unread");
    toggle.setAttribute("aria-label", label);
    toggle.title = label;
    toggle.replaceChildren(icon(unread ? "check" : "dot"));
  }

  _find(id) {
    return this.list.querySelector('li[data-id="' + Number(id) + '"]');
  }

  _click(event) {
    const item = event.target.closest("li.lb-item");
    if (!item) { return; }
    const id = Number(item.dataset.id);
    const notification = this.items.get(id);
    if (!notification) { return; }
    if (event.target.closest(".lb-toggle")) {
      const change = notification.unread ? this.bell.markRead([id]) : this.bell.markUnread([id]);
      this.applyUnread([id], !notification.unread);
      change.then((result) => this.options.onCount(result.unread_count))
        .catch((error) => { this.applyUnread([id], notification.unread); this._failed(error); });
    } else if (event.target.closest(".lb-delete")) {
      this.deleteWithUndo(id);
    } else if (event.target.closest(".lb-link")) {
      if (notification.unread) {
        // The link's go/ view marks it read on the server; show it read at once.
        this.applyUnread([id], false, { keep: true });
        if (!notification.target || !notification.target.url) {
          this.bell.markRead([id]).then((result) => this.options.onCount(result.unread_count))
            .catch((error) => this._failed(error));
        }
      }
    }
  }

  deleteWithUndo(id) {
    this.flushDelete();
    const notification = this.items.get(id);
    const item = this._find(id);
    if (!notification || !item) { return; }
    const next = item.nextSibling;
    item.remove();
    this.items.delete(id);
    const timer = setTimeout(() => this.flushDelete(), UNDO_MS);
    this.pendingDelete = { id, notification, item, next, timer };
    this.options.onUndo(gettext("Notification deleted."), () => {
      if (!this.pendingDelete || this.pendingDelete.id !== id) { return; }
      clearTimeout(timer);
      this.pendingDelete = null;
      this.items.set(id, notification);
      this.list.insertBefore(item, next && next.parentNode === this.list ? next : this.sentinel.parentNode ? this.sentinel : null);
      item.querySelector(".lb-link").focus();
      this.options.onChange();
    });
    this.options.onChange();
  }

  /** Send the delete waiting for its undo now (also when the page is left). */
  flushDelete() {
    const pending = this.pendingDelete;
    if (!pending) { return; }
    this.pendingDelete = null;
    clearTimeout(pending.timer);
    this.options.onUndo(null);
    this.bell.delete(pending.id).catch((error) => {
      if (error.status !== 404) { this._failed(error); }
    });
  }

  // --- What the socket says --------------------------------------------------------

  addNew(notification) {
    // A grouped notification stands for its group ("alice and 3 others …"): it replaces
    // the item whose id or whose group is its group, and any id it lists in "replaces".
    const replaced = (notification.replaces || []).slice();
    if (notification.group !== null && notification.group !== undefined) {
      for (const [id, shown] of this.items) {
        if (id === notification.group || shown.group === notification.group) { replaced.push(id); }
      }
    }
    if (replaced.length) { this.remove(replaced); }
    if (!this.loaded || this.items.has(notification.id) || !this.matches(notification)) { return; }
    this.items.set(notification.id, notification);
    const item = this._render(notification);
    item.classList.add("lb-fresh");
    // Newest first: before the first item with a smaller id.
    let before = null;
    for (const child of this.list.children) {
      if (Number(child.dataset.id) < notification.id || child === this.sentinel) { before = child; break; }
    }
    this.list.insertBefore(item, before);
    this.options.onChange();
  }

  applyUnread(ids, unread, { keep = false, beforeId } = {}) {
    const hit = (id) => ids === "all"
      ? beforeId === null || beforeId === undefined || id <= beforeId
      : ids.indexOf(id) !== -1;
    for (const [id, notification] of Array.from(this.items)) {
      if (!hit(id) || (ids === "all" && !unread && !notification.unread)) { continue; }
      notification.unread = unread;
      const item = this._find(id);
      if (!this.matches(notification) && !keep) {
        this.items.delete(id);
        if (item) { item.remove(); }
      } else if (item) {
        this._setUnread(item, unread);
      }
    }
    if (unread && ids !== "all" && this.loaded && this.options.filters().unread === true) {
      // Marked unread elsewhere: the unread list misses it; load again when next shown.
      if (ids.some((id) => !this.items.has(id))) { this.stale = true; }
    }
    this.options.onChange();
  }

  remove(ids) {
    for (const id of ids) {
      this.items.delete(id);
      const item = this._find(id);
      if (item) { item.remove(); }
    }
    this.options.onChange();
  }

  refreshTimes() {
    for (const time of this.list.querySelectorAll("time.lb-time")) {
      time.textContent = relativeTime(time.dateTime);
    }
  }
}

/** Shared behaviour of the bell and the page: the client's events, applied to a list. */
class Inbox {
  constructor(root) {
    this.root = root;
    this.bell = clientFor(root);
    this.status = root.querySelector(".lb-status");
    this.undoBar = root.querySelector(".lb-undo");
    this.count = root.dataset.unread ? Number(root.dataset.unread) : 0;
    this.bell.on("state", (state) => this.onState(state));
    this.bell.on("notification", (frame) => this.onNotification(frame));
    this.bell.on("read", (frame) => {
      this.list.applyUnread(frame.ids, false, { beforeId: frame.before_id });
      this.setCount(frame.unread_count);
    });
    this.bell.on("unread", (frame) => {
      this.list.applyUnread(frame.ids, true);
      this.setCount(frame.unread_count);
    });
    this.bell.on("deleted", (frame) => {
      this.list.remove(frame.ids);
      this.setCount(frame.unread_count);
    });
    this.bell.on("burst", (frame) => {
      // A storm was summed up: the count is current, the list is not (refetch it).
      this.setCount(frame.unread_count);
      this.onStale();
      this.onBurst(frame.count);
      // This tab got them too, summed up: not to be pushed either.
      if (typeof frame.last_id === "number") { this.acknowledge({ through: frame.last_id }); }
    });

    this.syncs = 0;
    this.bell.on("synced", (frame) => {
      this.setCount(frame.unread_count);
      this.syncs += 1;
      // After a reconnect (or a truncated catch-up) read and delete events may have been
      // missed: the list is stale. The first synced of a page load is not a reconnect.
      if (frame.truncated || this.syncs > 1) { this.onStale(); }
    });
    setInterval(() => this.list && this.list.refreshTimes(), 30000);
  }

  makeList(list, options) {
    this.list = new NotificationList(this.bell, list, {
      onChange: () => this.onChange(),
      onCount: (count) => this.setCount(count),
      onError: (message) => this.showError(message),
      onUndo: (message, undo) => this.showUndo(message, undo),
      ...options,
    });
  }

  onState(state) {
    this.root.dataset.state = state;
    if (this.status) {
      this.status.textContent = statusText(state);
      this.status.hidden = !this.status.textContent;
    }
    if (state === "unauthenticated") {
      this.list.clear();
      this.setCount(0);
      this.root.classList.add("lb-signed-out");
      if (this.bell.sessionEnded) { showSignedOutBanner(); }
    }
  }

  onNotification(frame) {
    this.list.addNew(frame.notification);
    this.setCount(frame.unread_count);
    if (frame.notification.unread) { this.acknowledge({ id: frame.notification.id }); }
  }

  // --- Web push: what this tab received live (docs/web-push.md) -------------------------

  /** Tell the server this tab got a notification (`id`), or every one up to a burst's
   * `through`, so it is not pushed to the user's devices as well. Only when the user
   * has a device (`data-webpush-ack`); batched: a burst of frames is one request. */
  acknowledge(what) {
    if (this.root.dataset.webpushAck === "true") { acknowledgeLive(this.bell, what); }
  }

  setCount(count) {
    if (typeof count !== "number") { return; }
    this.count = count;
  }

  /** ``count`` notifications arrived summed up in a "burst" frame (a storm). */
  onBurst(count) {}

  onStale() {
    this.list.stale = true;
  }

  onChange() {}

  showError(message) {
    const error = this.root.querySelector(".lb-error");
    if (!error) { return; }
    error.textContent = message || "";
    error.hidden = !message;
  }

  showUndo(message, undo) {
    if (!this.undoBar) { return; }
    this.undoBar.replaceChildren();
    this.undoBar.hidden = !message;
    if (!message) { return; }
    this.undoBar.appendChild(element("span", "", message));
    const button = element("button", "lb-text-button", gettext("Undo"));
    button.type = "button";
    button.addEventListener("click", () => { undo(); this.showUndo(null); });
    this.undoBar.appendChild(button);
  }
}

/** The header's bell: a button with the badge, the popover, toasts, the title count. */
class Bell extends Inbox {
  constructor(root) {
    super(root);
    this.button = root.querySelector(".lb-bell");
    this.badge = root.querySelector(".lb-badge");
    this.popover = root.querySelector(".lb-popover");
    this.tabs = Array.from(root.querySelectorAll(".lb-tab"));
    this.markAll = root.querySelector(".lb-mark-all");
    this.empty = root.querySelector(".lb-empty");
    this.toasts = root.querySelector(".lb-toasts");
    this.announcer = root.querySelector(".lb-announcer");
    this.desktop = root.querySelector(".lb-desktop");
    this.tab = "unread";
    this.baseTitle = document.title.replace(/^\(\d+\+?\) /, "");
    this.batch = [];
    this.batchTimer = null;
    this.burstCount = 0; // notifications a "burst" frame summed up, not yet toasted
    this.summaryToast = null; // the "N new notifications" toast, while it is up
    this.summaryCount = 0;
    this.makeList(root.querySelector(".lb-list"), {
      filters: () => (this.tab === "unread" ? { unread: true } : {}),
      scrollRoot: root.querySelector(".lb-scroll"),
    });
    this.button.addEventListener("click", () => (this.isOpen() ? this.close() : this.open()));
    this.popover.addEventListener("keydown", (event) => {
      if (event.key === "Escape") { event.stopPropagation(); this.close(); this.button.focus(); }
    });
    this.button.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.isOpen()) { this.close(); }
    });
    document.addEventListener("click", (event) => {
      if (this.isOpen() && !root.contains(event.target)) { this.close(); }
    });
    this.tabs.forEach((tab, index) => {
      tab.addEventListener("click", () => this.selectTab(tab.dataset.tab));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) { return; }
        const next = this.tabs[(index + step + this.tabs.length) % this.tabs.length];
        next.focus();
        this.selectTab(next.dataset.tab);
      });
    });
    this.markAll.addEventListener("click", () => this.markAllRead());
    this.desktopReplaced = false;
    if (this.desktop) { this.setUpDesktop(); }
    this.webpush = root.querySelector(".lb-webpush");
    if (this.webpush) { this.setUpWebPush(); }
    this.render();
    this.bell.connect();
  }

  isOpen() { return !this.popover.hidden; }

  open() {
    this.popover.hidden = false;
    this.button.setAttribute("aria-expanded", "true");
    this.root.classList.add("lb-open");
    if (!this.list.loaded || this.list.stale) { this.list.reload(); }
    this.popover.querySelector(".lb-heading").focus();
  }

  close() {
    this.popover.hidden = true;
    this.button.setAttribute("aria-expanded", "false");
    this.root.classList.remove("lb-open");
  }

  selectTab(name) {
    if (name === this.tab) { return; }
    this.tab = name;
    for (const tab of this.tabs) {
      const selected = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
    }
    this.list.clear();
    this.list.reload();
  }

  markAllRead() {
    const beforeId = this.list.newestShown();
    if (beforeId === null) { return; }
    this.list.applyUnread("all", false, { beforeId, keep: this.tab === "all" });
    this.bell.markAllRead(beforeId).then((result) => this.setCount(result.unread_count))
      .catch((error) => this.list._failed(error));
  }

  onStale() {
    super.onStale();
    if (this.isOpen()) { this.list.reload(); }
  }

  onNotification(frame) {
    super.onNotification(frame);
    if (frame.notification.unread) { this.queueToast(frame.notification); }
  }

  // --- Web push: this device (docs/web-push.md) -------------------------------------------

  setUpWebPush() {
    const worker = this.root.dataset.webpushWorker;
    const supported = worker && "serviceWorker" in navigator && "PushManager" in window
      && typeof Notification === "function";
    if (!supported) { return; } // stays hidden: the browser cannot
    this.webpushSwitch = this.webpush.querySelector(".lb-webpush-switch");
    this.webpushNote = this.webpush.querySelector(".lb-webpush-note");
    this.webpushOn = false;
    this.webpushBusy = false;
    this.webpushSwitch.addEventListener("click", () => this.toggleWebPush());
    // A click on a pushed notification while this tab is open: the worker controls no
    // page, so it asks the page to go to the notification's link.
    navigator.serviceWorker.addEventListener("message", (event) => {
      const data = event.data || {};
      if (data.livebell !== "open" || typeof data.url !== "string") { return; }
      const url = new URL(data.url, location.href);
      if (url.origin === location.origin) { location.href = url.href; }
    });
    navigator.serviceWorker.startMessages();
    navigator.serviceWorker.register(worker)
      .then((registration) => {
        this.pushRegistration = registration;
        this.tellWorker();
        return registration.pushManager.getSubscription();
      })
      .then((subscription) => {
        // On only if the browser has a subscription and this session made it: after a
        // logout (which forgets the device) the next user starts with it off.
        this.webpushOn = subscription !== null && Boolean(this.root.dataset.webpushDevice);
        this.webpush.hidden = false;
        if (this.desktop) { this.desktopReplaced = true; this.desktop.hidden = true; }
        this.renderWebPush();
      })
      .catch(() => { this.webpush.hidden = true; });
  }

  /** Give the service worker what it needs to follow a subscription the browser
   * replaces (pushsubscriptionchange): the CSRF token, the key, this device's id. */
  tellWorker() {
    const registration = this.pushRegistration;
    const worker = registration && (registration.active || registration.waiting || registration.installing);
    if (!worker) { return; }
    worker.postMessage({
      livebell: "state", csrf: this.root.dataset.csrf, key: this.root.dataset.webpushKey,
      device: this.root.dataset.webpushDevice ? Number(this.root.dataset.webpushDevice) : null,
    });
  }

  renderWebPush() {
    const blocked = Notification.permission === "denied";
    this.webpush.classList.toggle("lb-webpush-blocked", blocked);
    this.webpushSwitch.setAttribute("aria-checked", String(this.webpushOn && !blocked));
    this.webpushSwitch.disabled = this.webpushBusy;
    this.webpushSwitch.setAttribute("aria-disabled", String(blocked));
    this.webpushNote.textContent = blocked
      ? gettext("Notifications are blocked for this site. Allow them in your browser’s site settings.")
      : (this.webpushOn ? gettext("This device gets notifications when this site is closed.")
        : gettext("Get notifications here when this site is closed."));
  }

  async toggleWebPush() {
    if (this.webpushBusy || Notification.permission === "denied") { return; }
    this.webpushBusy = true;
    this.renderWebPush();
    try {
      if (this.webpushOn) { await this.unsubscribeDevice(); } else { await this.subscribeDevice(); }
    } catch (error) {
      this.showError(gettext("Could not change notifications on this device. Try again."));
    } finally {
      this.webpushBusy = false;
      this.renderWebPush();
      this.webpushSwitch.focus();
    }
  }

  async subscribeDevice() {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") { return; }
    const subscription = await this.pushRegistration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: base64UrlBytes(this.root.dataset.webpushKey),
    });
    try {
      const saved = await this.bell.subscribeWebPush(subscription);
      this.root.dataset.webpushDevice = String(saved.id);
      for (const root of document.querySelectorAll("[data-livebell]")) {
        root.dataset.webpushAck = "true"; // the user has a device now
      }
    } catch (error) {
      await subscription.unsubscribe(); // the server would not push to it
      throw error;
    }
    this.webpushOn = true;
    this.tellWorker();
  }

  async unsubscribeDevice() {
    const subscription = await this.pushRegistration.pushManager.getSubscription();
    const id = this.root.dataset.webpushDevice;
    if (id) {
      await this.bell.unsubscribeWebPush(id).catch((error) => {
        if (error.status !== 404) { throw error; } // 404: already forgotten
      });
    }
    this.root.dataset.webpushDevice = "";
    if (subscription) { await subscription.unsubscribe(); }
    this.webpushOn = false;
    this.tellWorker();
  }

  onBurst(count) {
    this.burstCount += count;
    if (this.batchTimer === null) {
      this.batchTimer = setTimeout(() => this.flushToasts(), TOAST_BATCH_MS);
    }
  }

  setCount(count) {
    super.setCount(count);
    this.render();
  }

  onChange() { this.render(); }

  onState(state) {
    super.onState(state);
    this.render();
  }

  render() {
    const count = this.count;
    const signedOut = this.bell.state === "unauthenticated";
    this.badge.textContent = count > BADGE_MAX ? BADGE_MAX + "+" : String(count);
    this.badge.hidden = count === 0 || signedOut;
    this.button.setAttribute("aria-label", count === 0
      ? gettext("Notifications, none unread")
      : interpolate(ngettext("%(count)s unread notification", "%(count)s unread notifications", count), { count }));
    if (this.root.dataset.titleCount !== "false") {
      document.title = (count > 0 && !signedOut ? "(" + (count > BADGE_MAX ? BADGE_MAX + "+" : count) + ") " : "") + this.baseTitle;
    }
    const anyUnread = Array.from(this.list.items.values()).some((n) => n.unread);
    this.markAll.disabled = !anyUnread || signedOut;
    const empty = this.list.loaded && this.list.items.size === 0;
    this.empty.hidden = !empty && !signedOut;
    if (signedOut) {
      this.empty.replaceChildren();
      const message = element("p", "lb-empty-title", gettext("You signed out — log in again"));
      this.empty.appendChild(message);
      if (this.root.dataset.login) {
        const login = element("a", "lb-text-button", gettext("Log in"));
        login.href = this.root.dataset.login + "?next=" + encodeURIComponent(location.pathname + location.search);
        this.empty.appendChild(login);
      }
    } else if (empty) {
      this.empty.replaceChildren(icon(this.tab === "unread" ? "caughtUp" : "bell", "lb-empty-icon"));
      this.empty.appendChild(element("p", "lb-empty-title", this.tab === "unread"
        ? gettext("You’re all caught up") : gettext("No notifications yet")));
      this.empty.appendChild(element("p", "lb-empty-hint", this.tab === "unread"
        ? gettext("New notifications will appear here.") : gettext("When someone interacts with you, you’ll see it here.")));
    }
  }

  // --- Toasts: a burst is one toast ---------------------------------------------------

  queueToast(notification) {
    this.batch.push(notification);
    if (this.batchTimer === null) {
      this.batchTimer = setTimeout(() => this.flushToasts(), TOAST_BATCH_MS);
    }
  }

  flushToasts() {
    const batch = this.batch;
    const held = this.burstCount;
    this.batch = [];
    this.burstCount = 0;
    this.batchTimer = null;
    const total = batch.length + held;
    if (!total) { return; }
    // A storm is one toast: while a summary toast is up, the next summary adds to it.
    const summaryUp = this.summaryToast !== null && this.summaryToast.isConnected;
    const many = total > 1 || held > 0 || summaryUp;
    const count = total + (summaryUp ? this.summaryCount : 0);
    const summary = many
      ? interpolate(ngettext("%(count)s new notification", "%(count)s new notifications", count), { count })
      : plainSentence(batch[0]);
    this.announcer.textContent = many ? summary : interpolate(gettext("New notification: %(text)s"), { text: summary });
    if (summaryUp) {
      this.summaryCount = count;
      this.summaryToast.querySelector(".lb-text").textContent = summary;
      this.summaryToast.keepAlive();
    } else {
      const toast = this.showToast(batch, summary, many);
      if (many) { this.summaryToast = toast; this.summaryCount = count; }
    }
    this.showDesktop(batch, summary, many);
  }

  showToast(batch, summary, many) {
    const toast = element("div", "lb-toast");
    toast.dataset.ids = batch.map((n) => n.id).join(",");
    const first = batch[0];
    const single = !many && batch.length === 1;
    const link = element(single && first.target && first.target.url ? "a" : "button", "lb-toast-body");
    if (link.tagName === "A") {
      link.href = this.bell.goUrl(first.id);
    } else {
      link.type = "button";
      link.addEventListener("click", () => { toast.remove(); this.open(); });
    }
    if (single) {
      const avatar = element("span", "lb-avatar", initials(first.actor && first.actor.username));
      avatar.setAttribute("aria-hidden", "true");
      avatar.style.setProperty("--lb-avatar-hue", String(hue(first.actor ? first.actor.username : "")));
      link.appendChild(avatar);
      link.appendChild(sentence(first));
    } else {
      link.appendChild(element("span", "lb-text", summary));
    }
    const dismiss = iconButton("lb-toast-close", "close", gettext("Dismiss"));
    dismiss.addEventListener("click", () => toast.remove());
    toast.appendChild(link);
    toast.appendChild(dismiss);
    this.toasts.appendChild(toast);
    while (this.toasts.children.length > TOAST_MAX) { this.toasts.firstChild.remove(); }
    let timer = setTimeout(() => toast.remove(), TOAST_LIFE_MS);
    toast.keepAlive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => toast.remove(), TOAST_LIFE_MS);
    };
    toast.addEventListener("mouseenter", () => clearTimeout(timer));
    toast.addEventListener("focusin", () => clearTimeout(timer));
    toast.addEventListener("mouseleave", () => toast.keepAlive());
    return toast;
  }

  // --- Desktop notifications, when the tab is hidden and the user allowed them ----------

  setUpDesktop() {
    if (typeof Notification !== "function") { return; }
    // Web push's switch, when shown, replaces this button (one control, not two).
    const update = () => {
      this.desktop.hidden = this.desktopReplaced || Notification.permission !== "default";
    };
    update();
    this.desktop.addEventListener("click", () => {
      Notification.requestPermission().then(update);
    });
  }

  showDesktop(batch, summary, many) {
    if (!this.desktop || typeof Notification !== "function" || Notification.permission !== "granted") { return; }
    if (!document.hidden || !batch.length) { return; }
    const first = batch[0];
    // One tag per notification: tabs showing the same one make one desktop notification.
    const shown = new Notification(this.baseTitle || gettext("Notifications"), {
      body: summary, tag: "livebell-" + first.id,
    });
    shown.onclick = () => {
      window.focus();
      if (!many && first.target && first.target.url) { location.href = this.bell.goUrl(first.id); } else { this.open(); }
      shown.close();
    };
  }
}

/** The bytes of a base64url text (a VAPID public key, as PushManager.subscribe takes it). */
function base64UrlBytes(text) {
  const base64 = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
}

/** The full page: filters, the list with infinite scroll, mark all read. */
class Page extends Inbox {
  constructor(root) {
    super(root);
    this.tabs = Array.from(root.querySelectorAll(".lb-tab"));
    this.levelSelect = root.querySelector(".lb-level");
    this.markAll = root.querySelector(".lb-mark-all");
    this.empty = root.querySelector(".lb-empty");
    const query = new URLSearchParams(location.search);
    this.filter = ["unread", "read"].includes(query.get("status")) ? query.get("status") : "all";
    this.level = query.get("level") || "";
    this.levelSelect.value = this.level;
    this.makeList(root.querySelector(".lb-list"), {
      filters: () => ({
        unread: this.filter === "unread" ? true : this.filter === "read" ? false : undefined,
        level: this.level || undefined,
      }),
    });
    this.tabs.forEach((tab) => tab.addEventListener("click", (event) => {
      event.preventDefault();
      this.filter = tab.dataset.tab;
      this.apply();
    }));
    this.levelSelect.addEventListener("change", () => { this.level = this.levelSelect.value; this.apply(); });
    this.markAll.addEventListener("click", () => {
      const beforeId = this.list.newestShown();
      this.list.applyUnread("all", false, { beforeId, keep: true });
      this.bell.markAllRead(beforeId).catch((error) => this.list._failed(error));
    });
    this.apply(true);
    this.bell.connect();
  }

  apply(first) {
    for (const tab of this.tabs) {
      tab.setAttribute("aria-current", String(tab.dataset.tab === this.filter));
    }
    if (!first) {
      const query = new URLSearchParams();
      if (this.filter !== "all") { query.set("status", this.filter); }
      if (this.level) { query.set("level", this.level); }
      history.replaceState(null, "", location.pathname + (query.toString() ? "?" + query : ""));
    }
    this.list.clear();
    this.list.reload();
  }

  onStale() { super.onStale(); this.list.reload(); }

  onChange() {
    const empty = this.list.loaded && this.list.items.size === 0;
    this.empty.hidden = !empty;
    this.markAll.disabled = !Array.from(this.list.items.values()).some((n) => n.unread);
  }
}

function mount() {
  for (const root of document.querySelectorAll("[data-livebell]")) {
    if (root.livebell) { continue; }
    root.livebell = root.dataset.livebell === "page" ? new Page(root) : new Bell(root);
  }
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", mount);
} else {
  mount();
}

/** The page's client, to listen to its events: `(await import(...)).client()`. */
export function client() { return sharedClient; }
