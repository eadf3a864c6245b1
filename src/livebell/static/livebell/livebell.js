/*
 * livebell.js — the browser client of livebell's notification socket.
 *
 *   const bell = new LiveBell({ lastId: 42 });
 *   bell.on("notification", (frame) => render(frame.notification, frame.unread_count));
 *   bell.connect();
 *
 * It reconnects with jittered exponential backoff (not after close code 4401:
 * the user must log in), sends a ping when the socket has been quiet so dead
 * connections are noticed, drops notifications it has already delivered, and
 * remembers the newest id it has so a reconnect resumes from it: the server
 * replays what was missed, then sends "synced" (with "truncated": true when
 * too much was missed to replay — refetch the list over REST then).
 * The wire protocol is described in docs/protocol.md.
 */
(function (global) {
  "use strict";

  var CLOSE_UNAUTHENTICATED = 4401;

  function defaultUrl(path) {
    var scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + path;
  }

  function LiveBell(options) {
    options = options || {};
    this.url = options.url || defaultUrl(options.path || "/ws/notifications/");
    this.lastId = typeof options.lastId === "number" ? options.lastId : null;
    this.minDelay = options.minDelay || 500;
    this.maxDelay = options.maxDelay || 30000;
    this.idleMs = options.idleMs || 25000;
    this.pongTimeoutMs = options.pongTimeoutMs || 10000;
    this.state = "idle";
    this._handlers = {};
    this._seen = new Set();
    this._attempt = 0;
    this._socket = null;
    this._timer = null;
    this._stopped = false;
    var self = this;
    this._onOnline = function () { if (self.state === "waiting") { self._open(); } };
  }

  LiveBell.prototype.on = function (type, handler) {
    (this._handlers[type] = this._handlers[type] || []).push(handler);
    return this;
  };

  LiveBell.prototype._emit = function (type, value) {
    (this._handlers[type] || []).forEach(function (handler) { handler(value); });
  };

  LiveBell.prototype._setState = function (state) {
    this.state = state;
    this._emit("state", state);
  };

  /** Open the socket (and keep it open until close() or a 4401). */
  LiveBell.prototype.connect = function () {
    this._stopped = false;
    global.addEventListener("online", this._onOnline);
    this._open();
    return this;
  };

  /** Close the socket for good. */
  LiveBell.prototype.close = function () {
    this._stopped = true;
    clearTimeout(this._timer);
    global.removeEventListener("online", this._onOnline);
    if (this._socket) { this._socket.close(1000); }
    this._setState("closed");
  };

  /** Mark notifications read in every tab: answered by a "read" event. */
  LiveBell.prototype.markRead = function (ids) {
    return this.send({ type: "mark_read", ids: ids });
  };

  /** Mark everything up to beforeId (default: all) read: answered by a "read" event. */
  LiveBell.prototype.markAllRead = function (beforeId) {
    var frame = { type: "mark_all_read" };
    if (typeof beforeId === "number") { frame.before_id = beforeId; }
    return this.send(frame);
  };

  /** Send a client frame (an object with a "type"); false if the socket is not open. */
  LiveBell.prototype.send = function (frame) {
    if (!this._socket || this._socket.readyState !== WebSocket.OPEN) { return false; }
    this._socket.send(JSON.stringify(frame));
    return true;
  };

  LiveBell.prototype._open = function () {
    clearTimeout(this._timer);
    var url = this.url;
    if (this.lastId !== null) {
      url += (url.indexOf("?") === -1 ? "?" : "&") + "last_id=" + encodeURIComponent(this.lastId);
    }
    this._setState("connecting");
    var socket = new WebSocket(url);
    var self = this;
    this._socket = socket;
    socket.onopen = function () {
      self._attempt = 0;
      self._setState("open");
      self._armIdle();
    };
    socket.onmessage = function (event) {
      if (socket !== self._socket) { return; }
      self._armIdle();
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      self._receive(frame);
    };
    socket.onclose = function (event) {
      if (socket !== self._socket) { return; }
      clearTimeout(self._timer);
      self._socket = null;
      self._emit("close", { code: event.code, reason: event.reason });
      if (self._stopped) { return; }
      if (event.code === CLOSE_UNAUTHENTICATED) {
        self._setState("unauthenticated");
        return;
      }
      self._retry();
    };
  };

  LiveBell.prototype._receive = function (frame) {
    if (frame.type === "notification" && frame.notification) {
      var id = frame.notification.id;
      if (this._seen.has(id)) { return; }
      this._seen.add(id);
      if (this._seen.size > 2000) { this._seen.delete(this._seen.values().next().value); }
      if (this.lastId === null || id > this.lastId) { this.lastId = id; }
    }
    if (frame.type === "synced") { this.lastId = frame.last_id; }
    if (frame.type === "pong") { return; }
    this._emit(frame.type, frame);
  };

  // After a quiet spell, ping; if even the pong does not come, the connection is dead.
  LiveBell.prototype._armIdle = function () {
    var self = this;
    clearTimeout(this._timer);
    this._timer = setTimeout(function () {
      if (!self.send({ type: "ping" })) { return; }
      self._timer = setTimeout(function () {
        if (self._socket) { self._socket.close(4000, "no pong"); }
      }, self.pongTimeoutMs);
    }, this.idleMs);
  };

  LiveBell.prototype._retry = function () {
    var ceiling = Math.min(this.maxDelay, this.minDelay * Math.pow(2, this._attempt));
    var delay = ceiling / 2 + Math.random() * ceiling / 2;
    this._attempt += 1;
    this._setState("waiting");
    var self = this;
    this._timer = setTimeout(function () { self._open(); }, delay);
  };

  global.LiveBell = LiveBell;
})(typeof window !== "undefined" ? window : this);
