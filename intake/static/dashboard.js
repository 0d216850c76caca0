// The dashboard's map: progressive enhancement of a page whose table already lists every incident.
// Leaflet with Natural Earth outlines (world-atlas, decoded by topojson-client) and no tile server:
// nothing is fetched from another site. Points come from /dashboard/incidents.geojson with the
// page's own filters, each at a coarse cell's centre. Popups are built from DOM nodes and text,
// never from HTML strings: a title is text typed by people.
(function () {
  "use strict";

  function popup(feature, labels) {
    var p = feature.properties, box = document.createElement("div"), link = document.createElement("a");
    link.href = p.url;
    link.textContent = p.title;
    box.appendChild(link);
    [p.date + " · " + p.grade, labels.killed + ": " + p.killed, labels.injured + ": " + p.injured].forEach(function (line) {
      var row = document.createElement("div");
      row.textContent = line;
      box.appendChild(row);
    });
    return box;
  }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    });
  }

  function start() {
    var box = document.getElementById("incident-map");
    if (!box || !window.L || !window.topojson || !window.fetch || !L.markerClusterGroup) { return; }
    var labels = { killed: box.dataset.killed, injured: box.dataset.injured };
    box.hidden = false;
    var fallback = document.getElementById("map-fallback");
    if (fallback) { fallback.hidden = true; }
    var map = L.map(box, { worldCopyJump: true, minZoom: 1, maxZoom: 11 });
    map.attributionControl.addAttribution("Natural Earth");
    map.setView([30, 30], 2);
    Promise.all([fetchJSON(box.dataset.outlines), fetchJSON(box.dataset.points)]).then(function (loaded) {
      var world = loaded[0], points = loaded[1];
      L.geoJSON(topojson.feature(world, world.objects.countries), {
        interactive: false, style: function () { return { className: "outline" }; }
      }).addTo(map);
      var clusters = L.markerClusterGroup({ showCoverageOnHover: false, maxClusterRadius: 50 });
      L.geoJSON(points, {
        pointToLayer: function (feature, latlng) {
          return L.marker(latlng, {
            title: feature.properties.title, alt: feature.properties.title,
            icon: L.divIcon({ className: "incident-marker", iconSize: [14, 14] })
          });
        },
        onEachFeature: function (feature, layer) { layer.bindPopup(popup(feature, labels)); }
      }).eachLayer(function (layer) { clusters.addLayer(layer); });
      map.addLayer(clusters);
      if (clusters.getLayers().length) {
        map.fitBounds(clusters.getBounds(), { maxZoom: 8, padding: [24, 24] });
      } else {
        var note = document.createElement("p");
        note.className = "help";
        note.textContent = box.dataset.none;
        box.parentNode.insertBefore(note, box.nextSibling);
      }
      box.dataset.ready = String(clusters.getLayers().length);
    }).catch(function () {
      box.hidden = true;
      if (fallback) { fallback.hidden = false; }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
