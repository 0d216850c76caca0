// Progressive enhancement of the report form. Everything here also works without JavaScript,
// through the form's own buttons and the server; this only saves round trips on slow links.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }

  // After an error, bring the list of what to correct into view.
  var summary = document.getElementById("form-errors");
  if (summary) { summary.focus(); }

  // Enter in a one-line field would send the whole form on a phone keyboard's "Go": don't.
  form.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && target.tagName === "INPUT" && !/^(submit|button|file|checkbox)$/.test(target.type)) {
      event.preventDefault();
    }
  });

  function renumber(container) {
    container.querySelectorAll(":scope > fieldset.row .row-number").forEach(function (el, i) {
      el.textContent = String(i + 1);
    });
  }

  function nextIndex(container) {
    var max = -1;
    container.querySelectorAll(":scope > fieldset.row").forEach(function (row) {
      var n = parseInt(row.getAttribute("data-index"), 10);
      if (!isNaN(n) && n > max) { max = n; }
    });
    return max + 1;
  }

  // The markup of a blank row of `list`, numbered `index`: from its <template> when the page has
  // one, else from the list's first row, which the server then sent blank. (Its markup is what was
  // sent: what was typed into it since lives in properties, not in the HTML; what a script added to
  // the row carries the class "client" and is left out of the copy.)
  function blankRow(list, container, index) {
    var template = form.querySelector('template[data-row-template="' + list + '"]');
    if (template) { return template.innerHTML.split("__INDEX__").join(index); }
    var first = container.querySelector(":scope > fieldset.row");
    if (!first) { return null; }
    var old = first.getAttribute("data-index");
    return first.outerHTML
      .split(list + "-" + old + "-").join(list + "-" + index + "-")
      .split('id="' + list + "-" + old + '"').join('id="' + list + "-" + index + '"')
      .split('data-index="' + old + '"').join('data-index="' + index + '"')
      .split(":" + list + ":" + old + '"').join(":" + list + ":" + index + '"');
  }

  // "Add another …": a blank row, numbered after the last row.
  form.querySelectorAll("button.add-row").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var list = button.getAttribute("data-list");
      var container = form.querySelector('.rows[data-list="' + list + '"]');
      if (!container) { return; }
      var html = blankRow(list, container, String(nextIndex(container)));
      if (html === null) { return; }
      event.preventDefault();
      container.insertAdjacentHTML("beforeend", html);
      renumber(container);
      var added = container.lastElementChild;
      added.querySelectorAll(".client").forEach(function (el) { el.remove(); });
      var first = added && added.querySelector("input, select, textarea");
      if (first) { first.focus(); }
    });
  });

  // "Remove this row": take it off the page; the last row of a list is emptied instead.
  form.addEventListener("click", function (event) {
    var button = event.target.closest("button.remove-row");
    if (!button) { return; }
    var row = button.closest("fieldset.row");
    var container = row && row.parentElement;
    if (!row || !container) { return; }
    event.preventDefault();
    if (container.querySelectorAll(":scope > fieldset.row").length > 1) {
      row.remove();
      renumber(container);
    } else {
      row.querySelectorAll("input, select, textarea").forEach(function (el) {
        if (el.type === "hidden") { return; }
        if (el.type === "checkbox") { el.checked = false; } else if (el.tagName === "SELECT") { el.selectedIndex = 0; } else { el.value = ""; }
      });
    }
  });

  // A file over the limit is refused here, before minutes of upload on a slow link.
  var maxBytes = parseInt(form.getAttribute("data-max-file-bytes"), 10);
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "file" || !input.files || !input.files.length) { return; }
    var field = input.closest(".field");
    var old = field.querySelector(".errors.client");
    if (old) { old.remove(); }
    if (input.files[0].size > maxBytes) {
      var message = document.createElement("p");
      message.className = "errors client";
      message.setAttribute("role", "alert");
      var name = document.createElement("bdi");  // the file's own name, whole in either direction
      name.textContent = input.files[0].name;
      message.append(name, ": " + form.getAttribute("data-too-large"));
      field.appendChild(message);
      input.value = "";
    }
  });

  // A designation chosen from the catalogue fills its item's manufacturer and country of manufacture,
  // where those are still empty: a suggestion the reporter can change, never an overwrite.
  form.addEventListener("change", function (event) {
    var input = event.target;
    var suggests = input.getAttribute && input.getAttribute("data-suggests");
    if (!suggests || !input.list) { return; }
    var option = Array.prototype.find.call(input.list.options, function (o) {
      return o.value.toLowerCase() === input.value.trim().toLowerCase();
    });
    if (!option) { return; }
    var prefix = input.name.replace(/model$/, "");
    var names = suggests.split(" ");
    var values = [option.getAttribute("data-manufacturer"), option.getAttribute("data-country")];
    names.forEach(function (name, i) {
      var target = form.elements.namedItem(prefix + name);
      if (target && !target.value && values[i]) {
        target.value = values[i];
        target.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });

  // One press of "Send report" sends once; the server also treats repeats as one report.
  // Coming back to this page from the browser's history re-enables the button.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    sending = false;
    var send = document.getElementById("send-report");
    if (send) { send.disabled = false; }
  });
  var sending = false;
  form.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    if (submitter && submitter.name === "row_action") { return; }
    if (sending) { event.preventDefault(); return; }
    sending = true;
    var send = document.getElementById("send-report");
    if (send) { send.disabled = true; send.textContent = form.getAttribute("data-sending"); }
  });

  // The position of this phone, if the reporter asks for it (never automatically).
  var locate = document.getElementById("use-location");
  if (locate && navigator.geolocation) {
    locate.hidden = false;
    locate.addEventListener("click", function () {
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.querySelector("#latitude").value = pos.coords.latitude.toFixed(6);
        form.querySelector("#longitude").value = pos.coords.longitude.toFixed(6);
        var precision = form.querySelector("#location_precision");
        if (precision) { precision.value = pos.coords.accuracy <= 100 ? "exact" : "within_1km"; }
      });
    });
  }
})();
