/* notifications/notify.js: django-notifications-hq's script, live.
 *
 * The globals, fill_notification_badge, fill_notification_list and register_notifier
 * are hq's, and every registered callback still gets hq's data, {unread_count,
 * unread_list}. Where {% register_notify_callbacks %} found livebell's API (it then
 * loads livebell/livebell.js before its settings), the data comes from livebell's
 * socket: a new notification, or one read in any tab, updates the badge and the list
 * at once. hq's polling of notify_api_url runs only when there is no livebell client
 * or no connection (socket or event stream) has opened within ten seconds; it stops
 * when one opens.
 */
var notify_badge_class;
var notify_menu_class;
var notify_api_url;
var notify_fetch_count;
var notify_unread_url;
var notify_mark_all_unread_url;
var notify_refresh_period = 15000;
// Set notify_mark_as_read to true to mark notifications as read when fetched
var notify_mark_as_read = false;
// Set by {% register_notify_callbacks %} when livebell's API is mounted.
var notify_livebell_api = null;
var notify_livebell_socket = "/ws/notifications/";
var consecutive_misfires = 0;
var registered_functions = [];
// The livebell client, once connected; and whether hq's polling is running.
var notify_livebell = null;
var notify_polling = false;
var NOTIFY_SOCKET_WAIT_MS = 10000;

function fill_notification_badge(data) {
    var badges = document.getElementsByClassName(notify_badge_class);
    for (var i = 0; i < badges.length; i++) {
        badges[i].textContent = data.unread_count;
        badges[i].removeAttribute("title");
    }
}

function fill_notification_list(data) {
    var menus = document.getElementsByClassName(notify_menu_class);
    for (var i = 0; i < menus.length; i++) {
        var menu = menus[i];
        while (menu.firstChild) { menu.removeChild(menu.firstChild); }
        data.unread_list.forEach(function (item) {
            var parts = [];
            ["actor", "verb", "target", "timestamp"].forEach(function (key) {
                if (typeof item[key] !== "undefined" && item[key] !== null) { parts.push(item[key]); }
            });
            var li = document.createElement("li");
            // Text, not HTML: names and verbs are data (hq inserted them as HTML).
            li.textContent = parts.join(" ");
            menu.appendChild(li);
        });
    }
}

function register_notifier(func) {
    registered_functions.push(func);
}

function notify_call_registered(data) {
    for (var i = 0; i < registered_functions.length; i++) {
        registered_functions[i](data);
    }
}

// --- hq's polling: the fallback ---------------------------------------------------------

function fetch_api_data() {
    if (!notify_polling) { return; }
    if (registered_functions.length > 0) {
        var r = new XMLHttpRequest();
        var params = "?max=" + notify_fetch_count;
        if (notify_mark_as_read) { params += "&mark_as_read=true"; }
        r.addEventListener("readystatechange", function () {
            if (this.readyState === 4) {
                if (this.status === 200) {
                    consecutive_misfires = 0;
                    if (notify_polling) { notify_call_registered(JSON.parse(r.responseText)); }
                } else {
                    consecutive_misfires++;
                }
            }
        });
        r.open("GET", notify_api_url + params, true);
        r.send();
    }
    if (consecutive_misfires < 10) {
        setTimeout(fetch_api_data, notify_refresh_period);
    } else {
        var badges = document.getElementsByClassName(notify_badge_class);
        for (var i = 0; i < badges.length; i++) {
            badges[i].textContent = "!";
            // Translated where the page loads Django's JavaScript catalog (hq's text otherwise).
            badges[i].title = typeof gettext === "function" ? gettext("Connection lost!") : "Connection lost!";
        }
    }
}

function notify_start_polling() {
    if (notify_polling) { return; }
    notify_polling = true;
    consecutive_misfires = 0;
    fetch_api_data();
}

// --- livebell's socket ------------------------------------------------------------------

// A livebell notification (socket frame or REST item) as an item of hq's unread_list.
function notify_hq_item(n) {
    var hq = (n.data && n.data.hq) || {};
    return {
        id: hq.id !== undefined ? hq.id : n.id,
        slug: hq.slug,
        livebell_id: n.id,
        actor: hq.actor || (n.actor ? n.actor.username : undefined),
        verb: n.verb,
        target: hq.target || (n.target ? n.target.text : undefined),
        action_object: hq.action_object || undefined,
        description: hq.description,
        data: hq.data || undefined,
        level: n.level,
        unread: n.unread,
        timestamp: n.created_at
    };
}

function notify_start_live() {
    var client = window.livebell.connect({ api: notify_livebell_api, path: notify_livebell_socket });
    var unread = [];
    var count = null;
    var live = false;
    var fetch = parseInt(notify_fetch_count, 10) || 5;

    function show() {
        if (count === null) { return; }
        notify_call_registered({ unread_count: count, unread_list: unread.slice(0, fetch) });
        if (notify_mark_as_read && unread.length) {
            var ids = unread.map(function (item) { return item.livebell_id; });
            unread = [];
            client.markRead(ids).catch(function () {});
        }
    }
    function reload() {
        client.list({ unread: true, pageSize: fetch }).then(function (page) {
            unread = page.results.map(notify_hq_item);
            show();
        }).catch(function () {});
    }
    function opened(frame) {
        live = true;
        notify_polling = false; // a connection is open: hq's polling stops
        count = frame.unread_count;
        reload();
    }
    client.on("synced", opened);
    client.on("notification", function (frame) {
        count = frame.unread_count;
        unread = unread.filter(function (item) {
            return item.livebell_id !== frame.notification.id;
        });
        unread.unshift(notify_hq_item(frame.notification));
        show();
    });
    client.on("read", function (frame) {
        count = frame.unread_count;
        if (frame.ids === "all") {
            unread = [];
        } else {
            unread = unread.filter(function (item) { return frame.ids.indexOf(item.livebell_id) < 0; });
        }
        show();
        if (count > unread.length && unread.length < fetch) { reload(); }
    });
    client.on("deleted", function (frame) {
        count = frame.unread_count;
        unread = unread.filter(function (item) { return frame.ids.indexOf(item.livebell_id) < 0; });
        show();
    });
    client.on("unread", function (frame) { count = frame.unread_count; reload(); });
    client.on("burst", function (frame) {
        if (typeof frame.unread_count === "number") { count = frame.unread_count; }
        reload();
    });
    client.on("state", function (state) {
        if (state === "unauthenticated" && !live) { notify_start_polling(); }
    });
    setTimeout(function () { if (!live) { notify_start_polling(); } }, NOTIFY_SOCKET_WAIT_MS);
    notify_livebell = client;
}

function notify_start() {
    if (notify_livebell_api && window.livebell && typeof window.livebell.connect === "function") {
        notify_start_live();
    } else {
        notify_start_polling();
    }
}

// Started once the page's scripts ran: {% register_notify_callbacks %} comes after this file.
if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setTimeout(notify_start, 0); });
} else {
    setTimeout(notify_start, 1000);
}
