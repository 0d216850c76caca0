// Every moment the server wrote in UTC (<time class="moment" datetime="…Z">, intake/web/times.py)
// shown in this browser's own time zone, with the zone named as the browser names it
// ("2026-12-02 07:10 GMT+4"); the UTC moment stays in the title. Without JavaScript, or in a
// browser without Intl, the server's "… UTC" stays, which is right too.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) { return; }
  var lang = document.documentElement.lang || undefined;

  function parts(formatter, date) {
    var found = {};
    formatter.formatToParts(date).forEach(function (part) { found[part.type] = part.value; });
    return found;
  }

  var plain, withSeconds, zoneOnly;
  try {
    var numeric = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                    hourCycle: "h23" };
    plain = new Intl.DateTimeFormat("en-CA", numeric);
    withSeconds = new Intl.DateTimeFormat("en-CA", Object.assign({ second: "2-digit" }, numeric));
    // The zone's name in the page's language ("GMT+4", "CET"…).
    zoneOnly = new Intl.DateTimeFormat(lang, { timeZoneName: "short", hour: "numeric" });
  } catch (e) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

  document.querySelectorAll("time.moment[datetime]").forEach(function (el) {
    var date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) { return; }
    var p = parts(el.hasAttribute("data-seconds") ? withSeconds : plain, date);
    var name = parts(zoneOnly, date).timeZoneName || zone;
    var text = p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute +
      (p.second ? ":" + p.second : "") + " " + name;
    el.title = el.textContent + (zone ? " · " + zone : "");
    el.textContent = text;
  });
})();
