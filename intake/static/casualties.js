// The casualty table and the people listed one by one, checked as the reporter types: a notice
// appears while more people are listed with a harm than the table counts (intake/casualties.py
// holds the same rule; the server asks again at "Send report"). Without JavaScript the server's
// question is all there is, and it is enough.
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  var check = document.getElementById("casualty-check");
  if (!form || !check) { return; }

  // After a submit the server asked about: bring its question into view.
  var asked = document.getElementById("casualty-warning");
  if (asked && !document.getElementById("form-errors")) { asked.focus(); }

  var HARMS = ["killed", "injured", "missing"];
  var GROUPS = ["men", "women", "boys", "girls", "unknown"];
  var lines = check.querySelector(".lines");

  function counted(harm) {
    var total = 0;
    GROUPS.forEach(function (group) {
      var input = form.elements.namedItem(harm + "_" + group);
      var n = input ? parseInt(input.value, 10) : 0;
      if (!isNaN(n) && n > 0) { total += n; }
    });
    return total;
  }

  function listed(harm) {
    var n = 0;
    // Rows still in the <template> are not on the form and not counted.
    form.querySelectorAll('.rows[data-list="victims"] select[name$="-harm"]').forEach(function (select) {
      if (select.value === harm) { n += 1; }
    });
    return n;
  }

  function update() {
    var found = [];
    HARMS.forEach(function (harm) {
      var people = listed(harm), table = counted(harm);
      if (people > table) {
        found.push(check.getAttribute("data-line")
          .replace("{harm}", check.getAttribute("data-label-" + harm) || harm)
          .replace("{listed}", String(people)).replace("{counted}", String(table)));
      }
    });
    var text = found.join("\n");
    if (lines.getAttribute("data-shown") === text) { return; }  // a status region re-reads every change
    lines.setAttribute("data-shown", text);
    lines.textContent = "";
    found.forEach(function (line, i) {
      if (i) { lines.appendChild(document.createElement("br")); }
      lines.appendChild(document.createTextNode(line));
    });
    check.hidden = found.length === 0;
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  // A row removed by the script changes the list without an input event.
  form.addEventListener("click", function (event) {
    if (event.target.closest("button.remove-row")) { window.setTimeout(update, 0); }
  });
  update();
})();
