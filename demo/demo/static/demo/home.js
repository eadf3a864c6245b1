// The demo's bell. The list and the badge come from the REST API (docs/api.md); the
// socket (livebell.js) then adds new notifications and applies read / unread / deleted
// events, so every open tab of the user stays in step without reloading.
(function () {
  "use strict";
  var list = document.getElementById("notifications");
  var badge = document.getElementById("unread-count");
  var stateText = document.getElementById("socket-state");
  var status = document.getElementById("api-status");
  var markAllButton = document.getElementById("mark-all-read");
  var loadMoreButton = document.getElementById("load-more");
  var api = list.dataset.api; // e.g. "/api/notifications/"
  var nextUrl = null; // the cursor link to the next (older) page, or null
  var PAGE_SIZE = 20;

  // --- The REST API ---------------------------------------------------------------

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  // Session authentication: the cookie authenticates, and DRF requires the CSRF
  // token (Django's csrftoken cookie, sent back in X-CSRFToken) on POST and DELETE.
  function request(method, url, body) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") { headers["X-CSRFToken"] = cookie("csrftoken"); }
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      if (response.status === 204) { return null; }
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error((data && data.detail) || response.statusText); }
        return data;
      });
    });
  }

  function report(error) {
    status.textContent = "Could not reach the server: " + error.message;
  }

  // --- Rendering ------------------------------------------------------------------

  function setCount(count) {
    badge.textContent = String(count);
    badge.dataset.count = String(count);
  }

  function ago(iso) {
    var seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) { return "just now"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + " min ago"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + " h ago"; }
    return Math.floor(seconds / 86400) + " d ago";
  }

  function render(n) {
    var item = document.createElement("li");
    item.dataset.id = String(n.id);
    item.className = "level-" + n.level + (n.unread ? " unread" : "");
    item.title = n.unread ? "Click to mark read" : "";
    var verb = document.createElement("span");
    verb.className = "verb";
    if (n.actor) {
      var who = document.createElement("b");
      who.textContent = n.actor.username;
      verb.appendChild(who);
      verb.appendChild(document.createTextNode(" "));
    }
    verb.appendChild(document.createTextNode(n.verb));
    var time = document.createElement("time");
    time.dateTime = n.created_at;
    time.textContent = ago(n.created_at);
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "delete";
    remove.setAttribute("aria-label", "Delete");
    remove.textContent = "×";
    item.appendChild(verb);
    item.appendChild(time);
    item.appendChild(remove);
    return item;
  }

  function items() {
    return Array.prototype.slice.call(list.querySelectorAll("li[data-id]"));
  }

  function find(id) {
    return list.querySelector('li[data-id="' + Number(id) + '"]');
  }

  function newestShown() {
    var first = items()[0];
    return first ? Number(first.dataset.id) : null;
  }

  // Keep the "Nothing yet." line and the buttons in step with what is shown.
  function refreshChrome() {
    var empty = list.querySelector(".empty");
    var any = items().length > 0;
    if (any && empty) { empty.remove(); }
    if (!any && !empty) {
      empty = document.createElement("li");
      list.appendChild(empty);
    }
    if (!any) {
      empty.className = "empty";
      empty.textContent = "Nothing yet.";
    }
    markAllButton.disabled = !list.querySelector("li.unread");
    loadMoreButton.hidden = !nextUrl;
  }

  function setUnread(item, unread) {
    item.classList.toggle("unread", unread);
    item.title = unread ? "Click to mark read" : "";
  }

  function showPage(page, replace) {
    if (replace) { items().forEach(function (item) { item.remove(); }); }
    page.results.forEach(function (n) {
      if (!find(n.id)) { list.appendChild(render(n)); }
    });
    nextUrl = page.next;
    refreshChrome();
  }

  // (Re)load the newest page and the badge from the API.
  function reload() {
    return Promise.all([
      request("GET", api + "?page_size=" + PAGE_SIZE),
      request("GET", api + "unread-count/"),
    ]).then(function (results) {
      showPage(results[0], true);
      setCount(results[1].count);
      status.textContent = "";
    });
  }

  // --- What the user does ---------------------------------------------------------

  list.addEventListener("click", function (event) {
    var item = event.target.closest("li[data-id]");
    if (!item) { return; }
    var id = Number(item.dataset.id);
    if (event.target.closest("button.delete")) {
      request("DELETE", api + id + "/").then(function () {
        item.remove();
        refreshChrome();
      }).catch(report);
    } else if (item.classList.contains("unread")) {
      request("POST", api + "mark-read/", { ids: [id] }).then(function (result) {
        setUnread(item, false);
        setCount(result.unread_count);
        refreshChrome();
      }).catch(report);
    }
  });

  // Only what this page has shown: a notification that arrives meanwhile stays unread.
  markAllButton.addEventListener("click", function () {
    var beforeId = newestShown();
    if (beforeId === null) { return; }
    request("POST", api + "mark-all-read/", { before_id: beforeId }).then(function (result) {
      applyRead("all", beforeId);
      setCount(result.unread_count);
    }).catch(report);
  });

  loadMoreButton.addEventListener("click", function () {
    if (!nextUrl) { return; }
    loadMoreButton.disabled = true;
    request("GET", nextUrl).then(function (page) {
      showPage(page, false);
    }).catch(report).then(function () { loadMoreButton.disabled = false; });
  });

  // --- What the socket says (also when another tab acted) ---------------------------

  function applyRead(ids, beforeId) {
    items().forEach(function (item) {
      var id = Number(item.dataset.id);
      var hit = ids === "all" ? beforeId === null || beforeId === undefined || id <= beforeId
        : ids.indexOf(id) !== -1;
      if (hit) { setUnread(item, false); }
    });
    refreshChrome();
  }

  function connect() {
    // Resume from the newest notification shown: the socket first replays what
    // arrived between the REST load and the connection (0: everything since).
    var bell = new LiveBell({ lastId: newestShown() || 0 });
    bell.on("state", function (state) {
      stateText.dataset.state = state;
      stateText.textContent = state === "open" ? "live" : state + "…";
    });
    bell.on("notification", function (frame) {
      if (!find(frame.notification.id)) {
        var item = render(frame.notification);
        item.classList.add("fresh");
        list.insertBefore(item, list.firstChild);
      }
      setCount(frame.unread_count);
      refreshChrome();
    });
    var syncs = 0;
    bell.on("synced", function (frame) {
      setCount(frame.unread_count);
      syncs += 1;
      // More was missed than the socket replays, or this is a reconnect (read and
      // delete events sent while away are not replayed): the list itself is stale.
      if (frame.truncated || syncs > 1) { reload().catch(report); }
    });
    bell.on("read", function (frame) {
      applyRead(frame.ids, frame.before_id);
      setCount(frame.unread_count);
    });
    bell.on("unread", function (frame) {
      frame.ids.forEach(function (id) {
        var item = find(id);
        if (item) { setUnread(item, true); }
      });
      setCount(frame.unread_count);
      refreshChrome();
    });
    bell.on("deleted", function (frame) {
      frame.ids.forEach(function (id) {
        var item = find(id);
        if (item) { item.remove(); }
      });
      setCount(frame.unread_count);
      refreshChrome();
    });
    bell.connect();
  }

  // Load first, then connect, so the socket resumes from exactly what is shown.
  reload().catch(report).then(connect);
})();
