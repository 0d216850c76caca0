// The report form on a bad link (design/field.md). With this script:
// - a draft is kept on the phone as the reporter types, encrypted (device-store.js), and comes back
//   when the form is opened again;
// - "Send report" sends the report first, without its files, so a dropped link costs seconds; a
//   report that could not go stays in the outbox on the phone and goes (once: same submission id)
//   when the link is back, from an open page or the service worker;
// - files then go one by one over tus (resumable, retried after a dropped link), with progress;
// - "My reports" lists what is still waiting on this phone, and the form can wipe all of it.
// Without JavaScript, or when the key cannot be fetched, the form posts everything as before.
// Loaded by outbox.js (the small script every page of a reporter carries) when it is needed: at
// the first input on the form, at Send, on the receipt and "My reports", or at start when the
// device keeps something; outbox.js says why in window.IntakeOutbox.
(function () {
  "use strict";
  var boot = window.IntakeOutbox;
  if (!boot || !window.IntakeDevice) { return; }
  var cfg = boot.cfg;
  var urls = { key: cfg.keyUrl, post: cfg.postUrl };
  // 512 KiB per PATCH: a few round trips per photo, and under the 1 MB a default nginx accepts.
  var CHUNK = 512 * 1024;
  var RETRY_MS = 10000;
  var D = null;
  var keys = null;
  var form = null;
  var loaded = {};

  function loadScript(src) {
    if (!loaded[src]) {
      loaded[src] = new Promise(function (resolve, reject) {
        var el = document.createElement("script");
        el.src = src;
        el.onload = resolve;
        el.onerror = function () { delete loaded[src]; reject(new Error("script")); };
        document.head.appendChild(el);
      });
    }
    return loaded[src];
  }

  var texts = {};
  var textTemplate = document.getElementById("device-text");
  if (textTemplate) {
    textTemplate.content.querySelectorAll("[data-k]").forEach(function (el) { texts[el.getAttribute("data-k")] = el.textContent; });
  }
  function T(name, values) {
    return (texts[name] || "").replace(/\{(\w+)\}/g, function (_, k) { return values && k in values ? values[k] : ""; });
  }
  // The same text as nodes, the values named in `isolated` each in a <bdi>: a file name or a place
  // typed in Latin letters then reads whole inside an Arabic sentence, and the reverse.
  function TNodes(name, values, isolated) {
    var source = texts[name] || "", nodes = [], last = 0;
    source.replace(/\{(\w+)\}/g, function (match, k, at) {
      var value = values && k in values ? String(values[k]) : "";
      nodes.push(document.createTextNode(source.slice(last, at)));
      nodes.push(isolated.indexOf(k) >= 0 ? bdi(value) : document.createTextNode(value));
      last = at + match.length;
      return match;
    });
    nodes.push(document.createTextNode(source.slice(last)));
    return nodes;
  }
  function bdi(text) {
    var el = document.createElement("bdi");
    el.textContent = text;
    return el;
  }

  function megabytes(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

  // ---- the form's fields, as a draft -------------------------------------------------------------

  var ROW = /^(victims|objects_damaged|components|witnesses|links|attachments)-(\d+)-(.+)$/;

  // Row fields are numbered by their place in the list (0, 1, 2 …), whatever numbers the page gave
  // them, so a restored draft finds its rows in a fresh form.
  function rowPlaces(root) {
    var places = {};
    root.querySelectorAll(".rows[data-list]").forEach(function (container) {
      var list = container.getAttribute("data-list");
      places[list] = {};
      container.querySelectorAll(":scope > fieldset.row").forEach(function (row, i) {
        places[list][row.getAttribute("data-index")] = i;
      });
    });
    return places;
  }

  function placed(name, places) {
    var m = ROW.exec(name);
    if (!m || !places[m[1]] || !(m[2] in places[m[1]])) { return m ? null : name; }
    return m[1] + "-" + places[m[1]][m[2]] + "-" + m[3];
  }

  function collect() {
    var places = rowPlaces(form);
    var fields = [];
    var files = [];
    var rows = {};
    Object.keys(places).forEach(function (list) { rows[list] = Object.keys(places[list]).length; });
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.closest("template")) { return; }
      if (el.name === "csrf_token" || el.name === "row_action" || /-upload_id$/.test(el.name)) { return; }
      if (el.type === "submit" || el.type === "button") { return; }
      var name = placed(el.name, places);
      if (!name) { return; }
      if (el.type === "file") {
        if (el.files && el.files[0]) { files.push({ field: name, file: el.files[0] }); }
        return;
      }
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) { return; }
      fields.push([name, el.value]);
    });
    if (pressed) { fields.push(pressed); }
    return { fields: fields, files: files, rows: rows, summary: summary() };
  }

  function summary() {
    function shown(id) {
      var el = form.querySelector("#" + id);
      if (!el || !el.value) { return ""; }
      return el.tagName === "SELECT" ? el.options[el.selectedIndex].text : el.value;
    }
    return { what: shown("incident_type"), when: shown("occurred_on"),
             where: shown("locality") || shown("admin1") || shown("country") };
  }

  function restoreFields(document) {
    Object.keys(document.rows || {}).forEach(function (list) {
      var container = form.querySelector('.rows[data-list="' + list + '"]');
      var add = form.querySelector('button.add-row[data-list="' + list + '"]');
      if (!container || !add) { return; }
      var guard = 0;
      while (container.querySelectorAll(":scope > fieldset.row").length < document.rows[list] && guard++ < 100) { add.click(); }
    });
    var places = rowPlaces(form);
    var byPlace = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && !el.closest("template")) { byPlace[placed(el.name, places)] = byPlace[placed(el.name, places)] || el; }
    });
    document.fields.forEach(function (pair) {
      var el = byPlace[pair[0]];
      if (!el || el.type === "file" || el.type === "hidden" && pair[0] !== "submission_id") { return; }
      if (el.type === "checkbox") { el.checked = true; } else { el.value = pair[1]; }
    });
  }

  // Put files kept on the phone back into their rows' file inputs (where the browser allows it).
  function restoreFiles(chosen) {
    var places = rowPlaces(form);
    Array.prototype.forEach.call(form.querySelectorAll('input[type="file"]'), function (input) {
      var file = chosen[placed(input.name, places)];
      if (!file || typeof DataTransfer !== "function") { return; }
      try {
        var transfer = new DataTransfer();
        transfer.items.add(file);
        input.files = transfer.files;
      } catch (e) { /* an older browser: the row stays empty */ }
    });
  }

  // ---- keeping the draft -----------------------------------------------------------------------

  var sealedFiles = new WeakMap();  // File -> its sealed pieces, so a photo is encrypted once
  var saveTimer = null;
  var saving = Promise.resolve();

  function entryId() { return form.querySelector('input[name="submission_id"]').value; }

  function save(state) {
    clearTimeout(saveTimer);
    saving = saving.catch(function () {}).then(function () { return saveNow(state); });
    return saving;
  }

  function saveNow(state) {
    var id = entryId();
    var key = keys.keys[keys.current];
    var data = collect();
    return D.getEntry(id).then(function (existing) {
      // Typing after Send never pulls a report back out of the outbox.
      if (existing && existing.state !== "draft" && existing.state !== "rejected" && state === "draft") { return existing; }
      var files = [];
      var metas = [];
      var chain = Promise.resolve();
      data.files.forEach(function (chosen, i) {
        chain = chain.then(function () {
          var known = sealedFiles.get(chosen.file);
          return (known ? Promise.resolve(known) : D.sealFile(key, id, i, chosen.file)).then(function (sealed) {
            // Pieces are bound to the file's place: a file that moved up a place is sealed again.
            if (sealed.place !== undefined && sealed.place !== i) { sealedFiles.delete(chosen.file); return D.sealFile(key, id, i, chosen.file); }
            return sealed;
          }).then(function (sealed) {
            sealed.place = i;
            sealedFiles.set(chosen.file, sealed);
            files.push({ pieces: sealed.pieces, uploadUrl: null, done: false, refused: null });
            metas.push({ field: chosen.field, name: chosen.file.name, type: chosen.file.type,
                         size: chosen.file.size, lastModified: chosen.file.lastModified,
                         description: fieldValue(data, chosen.field.replace(/-file$/, "-description")),
                         capturedAt: fieldValue(data, chosen.field.replace(/-file$/, "-captured_at")) });
          });
        });
      });
      return chain.then(function () {
        return D.sealForm(key, id, { fields: data.fields, rows: data.rows, files: metas, summary: data.summary });
      }).then(function (sealedForm) {
        var entry = { id: id, keyId: keys.current, state: state, form: sealedForm, files: files,
                      created: existing ? existing.created : Date.now() };
        return D.putEntry(entry).then(function () { return entry; });
      });
    });
  }

  function fieldValue(data, name) {
    var pair = data.fields.filter(function (p) { return p[0] === name; })[0];
    return pair ? pair[1] : "";
  }

  function saveSoon() {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(function () {
      save("draft").then(function () {
        status(T("saved", { time: new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) }));
      }).catch(function () { /* storage full or gone: the form still sends as it is */ });
    }, 800);
  }

  function status(text) {
    var el = document.getElementById("device-status");
    if (el) { el.textContent = text; }
  }

  // ---- the form page ---------------------------------------------------------------------------

  function initForm(target, restore) {
    form = target;
    var panel = document.getElementById("device-panel");
    if (panel) { panel.hidden = false; }
    form.addEventListener("input", saveSoon);
    form.addEventListener("change", saveSoon);
    form.addEventListener("submit", onSubmit);
    boot.done = true;  // Send is this script's from now on
    // Registered while the page has a link: when Send finds none, the worker is there to retry.
    // Right after a wipe, not before the reporter types again: a wiped phone keeps nothing.
    var wiped = /[?&]wiped=1/.test(location.search);
    if (wiped) {
      form.addEventListener("input", function () { registerWorker().catch(function () {}); }, { once: true });
    } else {
      registerWorker().catch(function () {});
    }
    if (wiped) { status(T("wiped")); }
    // A fresh form (not the server's answer to a Send) takes up the last draft kept on this phone.
    var fresh = restore && !document.querySelector("main .alert, #report-form .kept");
    if (!fresh) { return Promise.resolve(); }
    return D.allEntries().then(function (entries) {
      var drafts = entries.filter(function (e) { return (e.state === "draft" || e.state === "rejected") && keys.keys[e.keyId]; });
      drafts.sort(function (a, b) { return b.updated - a.updated; });
      if (!drafts.length) { return; }
      var draft = drafts[0];
      var key = keys.keys[draft.keyId];
      return D.openForm(key, draft).then(function (document) {
        restoreFields(document);
        var chosen = {};
        var chain = Promise.resolve();
        document.files.forEach(function (meta, i) {
          chain = chain.then(function () {
            return D.openFile(key, draft, i, meta.type).then(function (blob) {
              chosen[meta.field] = new File([blob], meta.name, { type: meta.type, lastModified: meta.lastModified });
            });
          });
        });
        return chain.then(function () {
          restoreFiles(chosen);
          form.querySelector('input[name="submission_id"]').value = draft.id;
          status(T("restored", { time: new Date(draft.updated).toLocaleString() }));
          offerFreshStart(draft.id);
        });
      }).catch(function () { /* a draft this key cannot open stays for the account that made it */ });
    });
  }

  function offerFreshStart(id) {
    var button = document.getElementById("device-discard");
    if (!button) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      D.deleteEntry(id).then(function () { location.replace(urls.post); });
    });
  }

  function onSubmit(event) {
    var submitter = event.submitter;
    if (event.defaultPrevented || (submitter && submitter.name === "row_action")) { return; }
    event.preventDefault();
    send(submitter);
  }

  // A named Send button ("Send the report as it is") is part of what is sent, as in a plain post.
  var pressed = null;

  function send(submitter) {
    pressed = submitter && submitter.name ? [submitter.name, submitter.value] : null;
    status(T("sending"));
    save("outbox").then(function (entry) {
      return deliver(entry.id);
    }).catch(function () {
      // The phone could not even keep the report (storage full): send it the way it always went.
      HTMLFormElement.prototype.submit.call(form);
    });
  }

  // Send the page's own report; what happens next is said on the page.
  var awaiting = false;  // this page's report is in the outbox

  function deliver(id) {
    awaiting = true;
    return D.sendReport(id, urls).then(function (result) {
      if (result.receiptUrl) { location.assign(result.receiptUrl); return; }
      if (result.state === "rejected") { awaiting = false; showServerAnswer(result.html, id); }
    }, function (error) {
      status(error.signedOut ? T("signin") : T("waiting"));
      askForBackgroundSync();
      retrySoon(error.retryAfter);
    });
  }

  // The server did not accept the report (a field to correct): show its answer in place of the
  // form, as a page load would have, with the chosen files still in their rows.
  function showServerAnswer(html, id) {
    var chosen = {};
    collect().files.forEach(function (f) { chosen[f.field] = f.file; });
    var answer = new DOMParser().parseFromString(html, "text/html").querySelector("main");
    var main = document.querySelector("main");
    if (!answer || !main) { return; }
    main.replaceWith(answer);
    var next = document.getElementById("report-form");
    if (!next) { return; }
    // The form's own scripts bind to the new form as on a page load: intake.js, then the scripts
    // the answer carries (casualties.js), which a parsed page inserted this way would not run.
    var sources = [cfg.pageScript];
    answer.querySelectorAll("script[src]").forEach(function (inert) {
      sources.push(inert.getAttribute("src"));
      inert.remove();
    });
    var last = null;
    sources.forEach(function (src) {
      last = document.createElement("script");
      last.src = src;
      last.async = false;  // in order
      document.body.appendChild(last);
    });
    last.onload = function () {
      initForm(next, false);
      restoreFiles(chosen);
      D.getEntry(id).then(function (entry) {
        if (entry) { entry.state = "draft"; return D.putEntry(entry); }
      });
    };
  }

  // ---- the outbox, from any page ---------------------------------------------------------------

  var retryTimer = null;
  var pumping = false;

  function retrySoon(seconds) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(pump, Math.max(RETRY_MS, (seconds || 0) * 1000));
  }

  function pump() {
    if (pumping) { return; }
    pumping = true;
    var pageEntry = form ? entryId() : null;
    D.allEntries().then(function (entries) {
      var mine = entries.filter(function (e) { return keys.keys[e.keyId]; });
      var chain = Promise.resolve();
      var waiting = false;
      mine.forEach(function (entry) {
        if (entry.state === "outbox") {
          chain = chain.then(function () {
            var sent = entry.id === pageEntry ? deliver(entry.id) : D.sendReport(entry.id, urls).catch(function () { waiting = true; });
            return sent;
          });
        }
      });
      return chain.then(function () {
        return D.allEntries();
      }).then(function (now) {
        now.forEach(function (entry) {
          if (entry.state === "files" && keys.keys[entry.keyId]) { sendFiles(entry.id); }
        });
        if (waiting) { retrySoon(); }
      });
    }).catch(function () { retrySoon(); }).then(function () { pumping = false; });
  }

  function askForBackgroundSync() {
    if (!navigator.serviceWorker) { return; }
    registerWorker().then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      if (registration.sync) { return registration.sync.register("intake-outbox"); }
    }).catch(function () {});
  }

  var registering = null;
  function registerWorker() {
    if (!navigator.serviceWorker || !cfg.workerUrl) { return Promise.reject(new Error("no service worker")); }
    registering = registering || navigator.serviceWorker.register(cfg.workerUrl, { scope: "/" });
    return registering;
  }

  // ---- files over tus ----------------------------------------------------------------------------

  var progress = {};  // entry id -> file index -> {sent, total, state, reason}

  function sendFiles(id) {
    D.exclusively("intake-files:" + id, { ifAvailable: true }, function (lock) {
      if (!lock) { return null; }  // another tab is sending them
      return Promise.all([D.getEntry(id), loadScript(cfg.tusUrl)]).then(function (found) {
        var entry = found[0];
        if (!entry || entry.state !== "files") { return null; }
        var key = keys.keys[entry.keyId];
        return D.openForm(key, entry).then(function (document) {
          var chain = Promise.resolve();
          entry.files.forEach(function (file, i) {
            if (file.done || file.refused) { return; }
            chain = chain.then(function () { return sendFile(entry, i, document.files[i], key); });
          });
          return chain.then(function () {
            return D.getEntry(id).then(function (latest) {
              var left = latest && latest.files.some(function (f) { return !f.done && !f.refused; });
              // The server has the report and every file: nothing of it stays on the phone.
              if (latest && !left) { return D.deleteEntry(id).then(function () { D.announce({ id: id, finished: true }); }); }
            });
          });
        });
      });
    }).catch(function () { retrySoon(); });
  }

  function report(id, i, values) {
    progress[id] = progress[id] || {};
    progress[id][i] = Object.assign(progress[id][i] || {}, values);
    D.announce({ id: id, progress: progress[id] });
    drawUploads();
  }

  function updateFile(id, i, change) {
    return D.getEntry(id).then(function (entry) {
      if (!entry) { return; }
      Object.assign(entry.files[i], change);
      if (change.done || change.refused) { entry.files[i].pieces = []; }  // the phone's copy goes
      return D.putEntry(entry);
    });
  }

  function waitForLink() {
    return new Promise(function (resolve) {
      var timer = setTimeout(finish, navigator.onLine ? 3000 : RETRY_MS);
      function finish() { clearTimeout(timer); window.removeEventListener("online", finish); resolve(); }
      window.addEventListener("online", finish);
    });
  }

  function sendFile(entry, i, meta, key) {
    return D.openFile(key, entry, i, meta.type).then(function (blob) {
      return new Promise(function (resolve) {
        var metadata = { filename: meta.name, report: entry.publicId };
        if (meta.description) { metadata.description = meta.description; }
        if (meta.capturedAt) { metadata.captured_at = meta.capturedAt; }
        report(entry.id, i, { name: meta.name, sent: 0, total: blob.size, state: "sending" });
        var upload = new window.tus.Upload(blob, {
          endpoint: cfg.uploadsUrl,
          uploadUrl: entry.files[i].uploadUrl || null,
          chunkSize: CHUNK,
          metadata: metadata,
          headers: { "X-CSRFToken": keys.csrf },
          retryDelays: [0, 1000, 3000, 5000, 10000],
          // The address of an upload is kept (encrypted entry) by this script, not in localStorage.
          storeFingerprintForResuming: false,
          onShouldRetry: function (error) {
            var code = error.originalResponse ? error.originalResponse.getStatus() : 0;
            return navigator.onLine && (code === 0 || code >= 500 || code === 409 || code === 423);
          },
          onUploadUrlAvailable: function () { updateFile(entry.id, i, { uploadUrl: upload.url }); },
          onProgress: function (sent, total) { report(entry.id, i, { sent: sent, total: total, state: "sending" }); },
          onSuccess: function () {
            report(entry.id, i, { sent: blob.size, state: "done" });
            updateFile(entry.id, i, { done: true }).then(resolve);
          },
          onError: function (error) {
            var response = error.originalResponse;
            var code = response ? response.getStatus() : 0;
            if (code === 404 || code === 410) {
              // The server no longer knows this upload (expired): start the file afresh.
              upload.url = null;
              upload.options.uploadUrl = null;
              updateFile(entry.id, i, { uploadUrl: null });
            } else if (code === 401 || code === 403) {
              D.forgetKeys();
              D.keysFor(urls.key).then(function (k) { keys = k; upload.options.headers["X-CSRFToken"] = k.csrf; }, function () {});
            } else if (code >= 400 && code < 500 && code !== 409 && code !== 423 && code !== 429) {
              var reason = "";
              try { reason = JSON.parse(response.getBody()).message || ""; } catch (e) { reason = String(code); }
              report(entry.id, i, { state: "refused", reason: reason });
              updateFile(entry.id, i, { refused: reason || String(code) }).then(resolve);
              return;
            }
            report(entry.id, i, { state: "waiting" });
            waitForLink().then(function () { upload.start(); });
          }
        });
        upload.start();
      });
    });
  }

  // ---- what the receipt and "My reports" show ----------------------------------------------------

  var uploadsBox = document.getElementById("device-uploads");
  var waitingBox = document.getElementById("device-waiting");
  var receiptEntry = null;  // the id of the entry whose files this receipt shows
  var fileNames = {};  // entry id -> the names of its files (from the sealed form)

  function fileLine(p) {  // nodes, the file's name isolated
    if (p.state === "done") { return TNodes("fileDone", { name: p.name }, ["name"]); }
    if (p.state === "refused") { return TNodes("fileRefused", { name: p.name, reason: p.reason || "" }, ["name"]); }
    var values = { name: p.name, sent: megabytes(p.sent || 0), total: megabytes(p.total || 0),
                   percent: p.total ? Math.floor(100 * (p.sent || 0) / p.total) : 0 };
    return TNodes(p.state === "waiting" ? "fileWaiting" : "fileSending", values, ["name"]);
  }

  var receiptView = null;  // {entry: present?, done: [bool per file]}, refreshed when the entry changes

  // Read the entry afresh (when it changed, not at every percent: it holds the sealed files).
  function renderUploads() {
    if (!uploadsBox) { return; }
    var publicId = uploadsBox.getAttribute("data-report");
    D.allEntries().then(function (entries) {
      var entry = entries.filter(function (e) { return e.publicId === publicId; })[0];
      if (entry) { receiptEntry = entry.id; }
      if (!receiptEntry) { return null; }
      var view = { present: !!entry, done: entry ? entry.files.map(function (f) { return !!f.done; }) : (receiptView ? receiptView.done : []) };
      if (!entry || fileNames[entry.id] || !keys.keys[entry.keyId]) { return view; }
      return D.openForm(keys.keys[entry.keyId], entry).then(function (document) {
        fileNames[entry.id] = document.files.map(function (meta) { return meta.name; });
        return view;
      });
    }).then(function (view) {
      if (view) { receiptView = view; drawUploads(); }
    });
  }

  function drawUploads() {
    if (!uploadsBox || !receiptView) { return; }
    var names = fileNames[receiptEntry] || [];
    var files = progress[receiptEntry] || {};
    var count = Math.max(receiptView.done.length, Object.keys(files).length);
    var items = [];
    var done = 0;
    for (var i = 0; i < count; i++) {
      var p = Object.assign({ name: names[i] || "", sent: 0, total: 0, state: "waiting" }, files[i] || {});
      if (receiptView.done[i] || !receiptView.present) { p.state = p.state === "refused" ? "refused" : "done"; }
      if (p.state === "done") { done++; }
      var li = document.createElement("li");
      var text = document.createElement("span");
      text.replaceChildren.apply(text, fileLine(p));
      li.appendChild(text);
      if (p.state !== "done" && p.state !== "refused" && p.total) {
        var bar = document.createElement("progress");
        bar.max = p.total;
        bar.value = p.sent || 0;
        bar.setAttribute("aria-hidden", "true");  // the text beside it says the same
        li.appendChild(bar);
      }
      items.push(li);
    }
    var list = uploadsBox.querySelector("ul");
    list.replaceChildren.apply(list, items);
    uploadsBox.hidden = false;
    var line = receiptView.present ? T("filesSummary", { done: done, count: count }) : T("filesAllDone");
    // Said once per change (a polite live region), not at every percent.
    var summaryLine = uploadsBox.querySelector(".device-summary");
    if (summaryLine.textContent !== line) { summaryLine.textContent = line; }
  }

  function renderWaiting() {
    if (!waitingBox) { return; }
    D.allEntries().then(function (entries) {
      entries.sort(function (a, b) { return a.created - b.created; });
      return Promise.all(entries.map(function (entry) {
        var key = keys.keys[entry.keyId];
        if (!key) { return Promise.resolve({ entry: entry, summary: null }); }
        return D.openForm(key, entry).then(function (document) { return { entry: entry, summary: document.summary }; },
                                           function () { return { entry: entry, summary: null }; });
      }));
    }).then(function (rows) {
      var items = rows.map(function (row) {
        var li = document.createElement("li");
        var title = document.createElement("strong");
        var s = row.summary;
        if (s) {  // the place, typed by the reporter, isolated
          [[s.what || T("untitled")], [s.when], [s.where, true]].filter(function (part) { return part[0]; })
            .forEach(function (part, i) {
              if (i) { title.appendChild(document.createTextNode(" · ")); }
              title.appendChild(part[1] ? bdi(part[0]) : document.createTextNode(part[0]));
            });
        } else { title.textContent = T("other"); }
        var state = document.createElement("div");
        state.className = "device-state";
        state.textContent = s ? T("w_" + row.entry.state) : "";
        li.appendChild(title);
        li.appendChild(state);
        return li;
      });
      var list = waitingBox.querySelector("ul");
      list.replaceChildren.apply(list, items);
      waitingBox.hidden = items.length === 0;
    });
  }

  function render() { renderUploads(); renderWaiting(); }

  // ---- start ------------------------------------------------------------------------------------

  // On any page of a signed-in reporter the outbox is sent, if anything waits in it.
  var page = document.getElementById("report-form");
  // After every deferred script (intake.js binds to the form first), whatever the network's order.
  var parsed = document.readyState !== "loading" ? Promise.resolve()
    : new Promise(function (resolve) { document.addEventListener("DOMContentLoaded", resolve); });
  D = window.IntakeDevice;
  boot.ready = parsed.then(function () {
    return D.keysFor(urls.key);
  }).then(function (k) {
    keys = k;
    D.listen(function (message) {
      // The report this page is waiting to send was sent from another tab or the service worker.
      if (form && awaiting && message.receiptUrl && message.id === entryId()) { location.assign(message.receiptUrl); }
      if (message.progress) { progress[message.id] = message.progress; drawUploads(); return; }
      if (message.wiped) { progress = {}; }
      render();
    });
    window.addEventListener("online", pump);
    // A draft is restored only when the form was opened with one on the device (the flag), never
    // over what was typed since the page was opened.
    var ready = page ? initForm(page, boot.reason === "kept") : Promise.resolve();
    return ready.then(function () {
      render();
      pump();
      D.remark().catch(function () {});
      // What the reporter typed before this script was here is kept now, as if it had been here.
      if (page && boot.reason === "input") { saveSoon(); }
      return { send: send, wipe: function () {
        return D.wipe().then(function () { location.replace(urls.post + "?wiped=1"); });
      } };
    });
  });
  // No key (signed out, offline) or no storage: the form works as without script.
  boot.ready.catch(function () {});
})();
