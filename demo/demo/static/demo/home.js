// The demo's bell: live notifications prepended to the list, the badge kept current.
(function () {
  "use strict";
  var list = document.getElementById("notifications");
  var badge = document.getElementById("unread-count");
  var stateText = document.getElementById("socket-state");
  var newest = list.querySelector("li[data-id]");

  function setCount(count) {
    badge.textContent = String(count);
    badge.dataset.count = String(count);
  }

  function render(n) {
    var item = document.createElement("li");
    item.dataset.id = String(n.id);
    item.className = "level-" + n.level + (n.unread ? " unread" : "") + " fresh";
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
    time.textContent = "just now";
    item.appendChild(verb);
    item.appendChild(time);
    return item;
  }

  var bell = new LiveBell({ lastId: newest ? Number(newest.dataset.id) : null });
  bell.on("state", function (state) {
    stateText.dataset.state = state;
    stateText.textContent = state === "open" ? "live" : state + "…";
  });
  bell.on("notification", function (frame) {
    var empty = list.querySelector(".empty");
    if (empty) { empty.remove(); }
    list.insertBefore(render(frame.notification), list.firstChild);
    setCount(frame.unread_count);
  });
  bell.connect();
})();
