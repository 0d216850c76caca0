// The service worker of the report form (served as /device-sw.js, scope "/"). It has no fetch
// handler: it never answers or caches a page, since pages carry report content. Its one job is
// Background Sync: when the browser sees a connection again, it sends the reports waiting in the
// outbox (device-store.js), even with every page of the site closed. Their files need a page: the
// tus client does not run in a worker, so they go when the receipt, the form or "My reports" is
// next open.
/* global IntakeDevice */
"use strict";
var urls = self.intakeUrls;

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

self.addEventListener("sync", function (event) {
  if (event.tag !== "intake-outbox") { return; }
  // A rejected promise asks the browser to try again later, with its own back-off.
  event.waitUntil(IntakeDevice.sendOutbox(urls));
});

self.addEventListener("message", function (event) {
  if (event.data === "send-outbox") { event.waitUntil(IntakeDevice.sendOutbox(urls).catch(function () {})); }
});
