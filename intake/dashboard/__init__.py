"""The dashboard (issue 17, items 6–7): an organisation's incidents on a map and in charts, for its
verifiers and coordinators, and the one-click list of the verified incidents in which an item made
in a given country was found.

- `items`: which items an incident's reports name, with designation, manufacturer and country of
  manufacture (the one place that knows where item data comes from).
- `queries`: the organisation's incidents as summaries (coarse place, civilians harmed, grade,
  items), and the dashboard's filters over them.
- `aggregates`: the charts' figures (by weapon system, by month, by country of manufacture).
- `charts`: those figures drawn as SVG with no style attributes (the CSP's `style-src 'self'`).

Plain functions over a session and plain values; the views are intake/web/dashboard.py.
"""
