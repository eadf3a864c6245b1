/*
 * webpush-worker.js — livebell's service worker for web push (docs/web-push.md).
 *
 * Served by livebell.views.service_worker from the site's origin. A push carries one
 * notification, encrypted to this browser: {id, title, body, url, tag}. It is shown
 * unless a tab of the site is focused (that tab's bell shows it; browsers allow a push
 * without a notification then). A click focuses an open tab of the site and takes it to
 * the notification's link (which marks it read), or opens one.
 * The worker controls no page (its scope is its own directory): it needs none to
 * receive pushes, and a site's own worker at / keeps its pages.
 * When the browser replaces the subscription (pushsubscriptionchange), the worker
 * subscribes again with the same key and posts the new subscription to the API as the
 * bell does, with the CSRF token the bell gave it, then deletes the old device.
 */
"use strict";

self.addEventListener("install", () => { self.skipWaiting(); });
self.addEventListener("activate", (event) => { event.waitUntil(self.clients.claim()); });

function windows() {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true });
}

self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch (error) { message = {}; }
  event.waitUntil(windows().then((tabs) => {
    if (tabs.some((tab) => tab.focused && tab.visibilityState === "visible")) { return undefined; }
    return self.registration.showNotification(message.title || "", {
      body: message.body || "",
      tag: message.tag || undefined,
      data: { url: message.url || "/" },
    });
  }));
});

// What the bell tells the worker (on each page load and each switch), kept in the Cache
// API under a URL of the worker's scope that is never fetched: the CSRF token to post
// with, the site's public key, and the device this browser is on the server.
const STATE = new URL("livebell-state", self.registration.scope).href;

async function readState() {
  const stored = await (await caches.open("livebell-webpush")).match(STATE);
  return stored ? stored.json() : {};
}

async function writeState(state) {
  const body = JSON.stringify(state);
  await (await caches.open("livebell-webpush")).put(STATE, new Response(body, {
    headers: { "Content-Type": "application/json" },
  }));
}

self.addEventListener("message", (event) => {
  const data = event.data || {};
  if (data.livebell !== "state") { return; }
  event.waitUntil(readState().then((state) => writeState({
    ...state, csrf: String(data.csrf || ""), key: String(data.key || ""), device: data.device || null,
  })));
});

function base64UrlBytes(text) {
  const base64 = (text + "=".repeat((4 - (text.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
}

/** The browser replaced (or dropped) the subscription: subscribe again with the same
 * key, and tell the server the new endpoint instead of the old. Without a session the
 * POST fails, and the device stays off until the user turns it on again. */
async function resubscribe(oldSubscription, newSubscription) {
  const state = await readState();
  const key = (oldSubscription && oldSubscription.options && oldSubscription.options.applicationServerKey)
    || (state.key ? base64UrlBytes(state.key) : null);
  if (!key || !state.device) { return; } // this browser was not subscribed through the bell
  const subscription = newSubscription
    || await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const api = new URL("../", self.location.href).href; // the worker is <api>webpush/worker.js
  const headers = { "Content-Type": "application/json", "X-CSRFToken": state.csrf || "" };
  const response = await fetch(api + "webpush/subscriptions/", {
    method: "POST", credentials: "same-origin", headers, body: JSON.stringify(subscription.toJSON()),
  });
  if (!response.ok) { return; }
  const saved = await response.json();
  if (String(state.device) !== String(saved.id)) {
    // The old endpoint no longer receives anything; a 404 means it is already forgotten.
    await fetch(api + "webpush/subscriptions/" + encodeURIComponent(state.device) + "/", {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": state.csrf || "" },
    }).catch(() => undefined);
  }
  await writeState({ ...state, device: saved.id });
}

self.addEventListener("pushsubscriptionchange", (event) => {
  event.waitUntil(resubscribe(event.oldSubscription || null, event.newSubscription || null));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = new URL((event.notification.data && event.notification.data.url) || "/", self.location.origin).href;
  event.waitUntil(windows().then((tabs) => {
    const tab = tabs.find((candidate) => new URL(candidate.url).origin === self.location.origin);
    if (tab) {
      // The worker's scope is its own directory, so it controls no page and cannot
      // navigate one: the page's bell goes to the link when told (bell.module.js).
      tab.postMessage({ livebell: "open", url });
      return tab.focus().catch(() => undefined);
    }
    return self.clients.openWindow(url);
  }));
});
