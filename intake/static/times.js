// Every moment the server wrote in UTC (<time class="moment" datetime="…Z">, intake/web/times.py)
// shown in this browser's own time zone, written as the page's language writes dates and times (its
// medium date and short time, as the server writes them, Gregorian calendar in every language), with
// the zone named as the browser names it ("Dec 2, 2026, 7:10 AM GMT+4"); the server's UTC text stays
// in the title. A browser without that language's date data (Chromium builds leave out Armenian, and
// carry no Azerbaijani month names) writes the numeric "2026-12-02 07:10 GMT+4" instead of another
// language's words. Without JavaScript, or in a browser without Intl, the server's "… UTC" stays,
// which is right too.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) { return; }
  var lang = document.documentElement.lang || undefined;

  function parts(formatter, date) {
    var found = {};
    formatter.formatToParts(date).forEach(function (part) { found[part.type] = part.value; });
    return found;
  }

  function knowsLanguage() {
    if (!lang) { return false; }
    var resolved = new Intl.DateTimeFormat(lang).resolvedOptions().locale || "";
    if (resolved.split("-")[0].toLowerCase() !== lang.split("-")[0].toLowerCase()) { return false; }
    // CLDR's root data names December "M12": the language is known by name only.
    return !/^M\d+$/.test(new Intl.DateTimeFormat(lang, { month: "long" }).format(new Date(2026, 11, 2)));
  }

  var write, zoneOnly;
  try {
    if (knowsLanguage()) {
      var plain = new Intl.DateTimeFormat(lang, { calendar: "gregory", dateStyle: "medium", timeStyle: "short" });
      var withSeconds = new Intl.DateTimeFormat(lang, { calendar: "gregory", dateStyle: "medium",
                                                        timeStyle: "medium" });
      write = function (date, seconds) { return (seconds ? withSeconds : plain).format(date); };
    } else {
      var numeric = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                      hourCycle: "h23", calendar: "gregory", numberingSystem: "latn" };
      var short = new Intl.DateTimeFormat("en-CA", numeric);
      var long = new Intl.DateTimeFormat("en-CA", Object.assign({ second: "2-digit" }, numeric));
      write = function (date, seconds) {
        var p = parts(seconds ? long : short, date);
        return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + (seconds ? ":" + p.second : "");
      };
    }
    // The zone's name in the page's language ("GMT+4", "CET", "غرينتش+4"…).
    zoneOnly = new Intl.DateTimeFormat(lang, { calendar: "gregory", timeZoneName: "short", hour: "numeric" });
  } catch (e) { return; }
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";

  document.querySelectorAll("time.moment[datetime]").forEach(function (el) {
    var date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) { return; }
    var name = parts(zoneOnly, date).timeZoneName || zone;
    el.title = el.textContent + (zone ? " · " + zone : "");
    el.textContent = write(date, el.hasAttribute("data-seconds")) + " " + name;
  });
})();
