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
