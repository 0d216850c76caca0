// The start of the report form's drafts and outbox (outbox-core.js, design/field.md), on every page
// of those who file reports. It is small because it is all the first load of the form pays for: the
// rest (outbox-core.js, device-store.js, idb; about 14 KB gzipped) is fetched when it is needed:
// - on the form, at the first input or change (what was typed meanwhile is kept once it is here:
//   it saves the whole form), at Send, or at "Wipe";
// - at start, on the receipt and "My reports" (they show what the device keeps), after a wipe, and
//   on any page when the device keeps something to restore or send: a flag in localStorage that
//   device-store.js sets ("1", never any content).
// The resumable-upload client (tus-js-client) comes later still: when a file is to be sent.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.indexedDB || !window.crypto || !crypto.subtle || !window.fetch || !window.Promise) { return; }
  var cfg = script.dataset;
  var boot = window.IntakeOutbox = { cfg: cfg, reason: null, ready: null };
  var loading = null;
  var added = {};

  function add(src) {
    if (!added[src]) {
      added[src] = new Promise(function (resolve, reject) {
        var el = document.createElement("script");
        el.src = src;
        el.async = false;  // fetched together, run in order
        el.onload = resolve;
        el.onerror = function () { delete added[src]; el.remove(); reject(new Error("script")); };
        document.head.appendChild(el);
      });
    }
    return added[src];
  }

  // The rest, once; its `ready` answers when it has its key and has bound to the page.
  function load(reason) {
    if (!loading) {
      boot.reason = reason;
      loading = Promise.all([add(cfg.idbUrl), add(cfg.storeUrl), add(cfg.coreUrl)]).then(function () {
        if (!boot.ready) { throw new Error("outbox"); }
        return boot.ready;
      });
      loading.catch(function () { loading = null; });  // a link back: the next input tries again
    }
    return loading;
  }

  function kept() {
    try { return window.localStorage.getItem("intake-device-kept") === "1"; } catch (e) { return false; }
  }

  function start() {
    var form = document.getElementById("report-form");
    var wiped = form && /[?&]wiped=1/.test(location.search);
    if (document.getElementById("device-uploads") || document.getElementById("device-waiting") || wiped) {
      load("page");
    } else if (kept()) {
      load("kept");
    }
    if (!form) { return; }
    var panel = document.getElementById("device-panel");
    if (panel) { panel.hidden = false; }
    if (loading) { loading.catch(function () { if (panel) { panel.hidden = true; } }); }
    function first() { load("input").catch(function () {}); }
    form.addEventListener("input", first);
    form.addEventListener("change", first);
    form.addEventListener("submit", function (event) {
      var submitter = event.submitter;
      if (boot.done || event.defaultPrevented || (submitter && submitter.name === "row_action")) { return; }
      // Send before the rest was here: it comes, then sends; without it the form posts as always.
      event.preventDefault();
      load("send").then(function (api) { api.send(submitter); }, function () {
        HTMLFormElement.prototype.submit.call(form);
      });
    });
    var wipe = document.getElementById("device-wipe");
    var confirm = document.getElementById("device-wipe-confirm");
    if (wipe && confirm) {
      wipe.addEventListener("click", function () { confirm.hidden = false; confirm.focus(); });
      confirm.addEventListener("click", function () {
        load("wipe").then(function (api) { return api.wipe(); }).catch(function () {
          // Offline and the rest not in the browser's cache: delete the store without it.
          try { window.localStorage.removeItem("intake-device-kept"); } catch (e) { /* off */ }
          var request = indexedDB.deleteDatabase("intake-device");
          request.onsuccess = request.onerror = request.onblocked = function () {
            location.replace(cfg.postUrl + "?wiped=1");
          };
        });
      });
    }
  }

  // After every deferred script (intake.js binds to the form first).
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
