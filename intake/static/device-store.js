// What the report form keeps on the phone (drafts and the outbox), shared by the pages (outbox.js)
// and the service worker (sw.js). Everything is encrypted (AES-256-GCM, WebCrypto) before it reaches
// IndexedDB, with a key the server hands to a signed-in page (GET /device/key) and that is held in
// memory only: what the device stores is ciphertext, which its key id and state do not explain.
// Report contents go nowhere but this site's own form and upload endpoints.
(function (global) {
  "use strict";
  var DB_NAME = "intake-device";
  var STORE = "entries";
  var CHANNEL = "intake-device";
  // Files are sealed in pieces: a long video never has to be one buffer in a phone's memory.
  var PIECE = 1024 * 1024;
  var RECEIPT = /\/reports\/([0-9a-f-]{36})\/receipt$/;
  var encoder = new TextEncoder();
  var decoder = new TextDecoder();
  var dbPromise = null;
  var keyState = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = global.idb.openDB(DB_NAME, 1, {
        upgrade: function (db) { db.createObjectStore(STORE, { keyPath: "id" }); },
        // A page that wipes the device deletes the database: let go of it at once.
        blocking: function () { dbPromise.then(function (db) { db.close(); }); dbPromise = null; }
      });
    }
    return dbPromise;
  }

  function fromBase64(text) {
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function SignedOut() { var e = new Error("signed out"); e.signedOut = true; return e; }
  function Offline() { var e = new Error("no connection"); e.offline = true; return e; }

  // The keys of the signed-in user (non-extractable CryptoKeys) and a fresh CSRF token.
  function fetchKeys(url) {
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .catch(function () { throw Offline(); })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (!response.ok || type.indexOf("json") < 0) { throw SignedOut(); }
        return response.json();
      })
      .then(function (json) {
        return Promise.all(json.keys.map(function (k) {
          return crypto.subtle.importKey("raw", fromBase64(k.key), "AES-GCM", false, ["encrypt", "decrypt"])
            .then(function (key) { return [k.id, key]; });
        })).then(function (pairs) {
          var keys = {};
          pairs.forEach(function (pair) { keys[pair[0]] = pair[1]; });
          keyState = { keys: keys, current: pairs[0][0], csrf: json.csrf_token };
          return keyState;
        });
      });
  }

  function keysFor(url, fresh) {
    return keyState && !fresh ? Promise.resolve(keyState) : fetchKeys(url);
  }

  function forgetKeys() { keyState = null; }

  function seal(key, bytes, aad) {
    var iv = crypto.getRandomValues(new Uint8Array(12));
    return crypto.subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: encoder.encode(aad) }, key, bytes)
      .then(function (data) { return { iv: iv, data: data }; });
  }

  function unseal(key, box, aad) {
    return crypto.subtle.decrypt({ name: "AES-GCM", iv: box.iv, additionalData: encoder.encode(aad) }, key, box.data);
  }

  // Each sealed part is bound to its entry and place, so parts cannot be swapped or cut off unseen.
  function formAad(id) { return "intake:draft:" + id + ":form"; }
  function pieceAad(id, file, index, last) { return "intake:draft:" + id + ":file:" + file + ":" + index + (last ? ":last" : ""); }

  function sealForm(key, id, document) {
    return seal(key, encoder.encode(JSON.stringify(document)), formAad(id));
  }

  function openForm(key, entry) {
    return unseal(key, entry.form, formAad(entry.id)).then(function (plain) { return JSON.parse(decoder.decode(plain)); });
  }

  function sealFile(key, id, fileIndex, file) {
    var pieces = [];
    var count = Math.max(1, Math.ceil(file.size / PIECE));
    function next(i) {
      if (i >= count) { return Promise.resolve({ pieces: pieces }); }
      return file.slice(i * PIECE, (i + 1) * PIECE).arrayBuffer().then(function (bytes) {
        return seal(key, bytes, pieceAad(id, fileIndex, i, i === count - 1));
      }).then(function (box) { pieces.push(box); return next(i + 1); });
    }
    return next(0);
  }

  function openFile(key, entry, fileIndex, type) {
    var sealed = entry.files[fileIndex];
    var parts = [];
    function next(i) {
      if (i >= sealed.pieces.length) { return Promise.resolve(new Blob(parts, { type: type || "" })); }
      return unseal(key, sealed.pieces[i], pieceAad(entry.id, fileIndex, i, i === sealed.pieces.length - 1))
        .then(function (plain) { parts.push(plain); return next(i + 1); });
    }
    return next(0);
  }

  function getEntry(id) { return openDb().then(function (db) { return db.get(STORE, id); }); }
  function allEntries() { return openDb().then(function (db) { return db.getAll(STORE); }); }
  // A page's outbox.js loads the rest of the form's scripts at start only when this flag says the
  // device keeps something (a draft, an outbox entry, files to send): "1" or nothing, never content.
  // The service worker has no localStorage: a flag it leaves behind is cleared by the next page.
  var MARK = "intake-device-kept";
  function mark(kept) {
    try {
      if (kept) { global.localStorage.setItem(MARK, "1"); } else { global.localStorage.removeItem(MARK); }
    } catch (e) { /* no localStorage (the worker) or it is off: outbox.js loads at the first input */ }
  }
  function remark() {
    return allEntries().then(function (entries) { mark(entries.length > 0); return entries; });
  }

  function getEntry(id) { return openDb().then(function (db) { return db.get(STORE, id); }); }
  function allEntries() { return openDb().then(function (db) { return db.getAll(STORE); }); }
  function putEntry(entry) {
    entry.updated = Date.now();
    mark(true);
    return openDb().then(function (db) { return db.put(STORE, entry); }).then(function () {
      mark(true);  // again after the write: a count read before it cannot clear the flag
      announce({ id: entry.id, receiptUrl: entry.receiptUrl || null });
    });
  }
  function deleteEntry(id, receiptUrl) {
    return openDb().then(function (db) { return db.delete(STORE, id); }).then(function () {
      remark().catch(function () {});
      announce({ id: id, gone: true, receiptUrl: receiptUrl || null });
    });
  }

  // Other pages and the service worker redraw what they show when an entry changes.
  var channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  function announce(message) { if (channel) { channel.postMessage(message); } }
  function listen(handler) {
    if (!channel) { return; }
    var own = new BroadcastChannel(CHANNEL);
    own.onmessage = function (event) { handler(event.data); };
  }

  // One sender at a time per entry, across tabs and the service worker (Web Locks).
  function exclusively(name, options, work) {
    if (global.navigator && navigator.locks) {
      return navigator.locks.request(name, options, work);
    }
    return work(true);
  }

  // Send an outbox entry's report (without its files) with the form's own POST. The submission id
  // it carries makes a repeat harmless: the server's journal answers with the first one's receipt.
  function sendReport(id, urls, retried) {
    return exclusively("intake-send:" + id, {}, function () {
      return getEntry(id).then(function (entry) {
        if (!entry || entry.state !== "outbox") {
          return { state: entry ? entry.state : "gone", entry: entry, receiptUrl: entry && entry.receiptUrl };
        }
        return keysFor(urls.key, retried).then(function (keys) {
          var key = keys.keys[entry.keyId];
          if (!key) { return { state: "other-account", entry: entry }; }
          return openForm(key, entry).then(function (form) {
            var body = new FormData();
            form.fields.forEach(function (pair) { body.append(pair[0], pair[1]); });
            body.set("csrf_token", keys.csrf);
            return fetch(urls.post, { method: "POST", body: body, credentials: "same-origin" })
              .catch(function () { throw Offline(); })
              .then(function (response) { return answered(entry, response, urls, retried); });
          });
        });
      });
    }).then(function (result) {
      return result && result.again ? sendReport(id, urls, true) : result;
    });
  }

  function answered(entry, response, urls, retried) {
    var path = new URL(response.url).pathname;
    var receipt = RECEIPT.exec(path);
    if (response.ok && receipt) {
      entry.publicId = receipt[1];
      entry.receiptUrl = response.url;
      var pending = entry.files.some(function (f) { return !f.done && !f.refused; });
      entry.state = pending ? "files" : "sent";
      entry.problem = null;
      var saved = pending ? putEntry(entry) : deleteEntry(entry.id, entry.receiptUrl);
      return saved.then(function () { return { state: entry.state, receiptUrl: entry.receiptUrl, entry: entry }; });
    }
    if (response.ok && response.redirected) { throw SignedOut(); }  // to the sign-in page
    if (response.status === 400 && !retried) {
      forgetKeys();  // an expired page token: once more with a fresh one
      return { again: true };
    }
    if (response.status === 422 || response.status === 400) {
      entry.state = "rejected";
      return putEntry(entry).then(function () {
        return response.text().then(function (html) { return { state: "rejected", html: html, entry: entry }; });
      });
    }
    var error = new Error("server answered " + response.status);
    error.status = response.status;
    error.retryAfter = parseInt(response.headers.get("Retry-After"), 10) || 0;
    throw error;
  }

  // Every report waiting in the outbox, once each (the service worker's background sync).
  function sendOutbox(urls) {
    return allEntries().then(function (entries) {
      var failed = null;
      var waiting = entries.filter(function (e) { return e.state === "outbox"; });
      return waiting.reduce(function (chain, entry) {
        return chain.then(function () {
          return sendReport(entry.id, urls).catch(function (error) { failed = failed || error; });
        });
      }, Promise.resolve()).then(function () { if (failed) { throw failed; } });
    });
  }

  function wipe() {
    var steps = [];
    steps.push(new Promise(function (resolve) {
      var done = function () { resolve(); };
      var close = dbPromise ? dbPromise.then(function (db) { db.close(); }).catch(done) : Promise.resolve();
      dbPromise = null;
      close.then(function () {
        var request = indexedDB.deleteDatabase(DB_NAME);
        request.onsuccess = request.onerror = request.onblocked = done;
      });
    }));
    if (global.caches) {
      steps.push(caches.keys().then(function (names) {
        return Promise.all(names.map(function (name) { return caches.delete(name); }));
      }));
    }
    if (global.navigator && navigator.serviceWorker && navigator.serviceWorker.getRegistrations) {
      steps.push(navigator.serviceWorker.getRegistrations().then(function (registrations) {
        return Promise.all(registrations.map(function (r) { return r.unregister(); }));
      }));
    }
    forgetKeys();
    mark(false);
    return Promise.all(steps.map(function (p) { return p.catch(function () {}); })).then(function () {
      announce({ wiped: true });
    });
  }

  global.IntakeDevice = {
    keysFor: keysFor, forgetKeys: forgetKeys, sealForm: sealForm, openForm: openForm, sealFile: sealFile,
    openFile: openFile, getEntry: getEntry, allEntries: allEntries, putEntry: putEntry, deleteEntry: deleteEntry,
    listen: listen, announce: announce, remark: remark, exclusively: exclusively, sendReport: sendReport, sendOutbox: sendOutbox,
    wipe: wipe
  };
})(self);
