"""Style sheet and script inlined into report.html (kept in Python so they ship with the package).

The script only adds conveniences (sorting tables by a header click); every
number and chart is in the HTML and SVG itself, readable with scripts off.
"""

CSS = """
:root { --ink:#1d232b; --muted:#5f6b7a; --line:#e3e7ec; --bg:#f6f8fa; --card:#fff; --accent:#0072B2;
        --good:#00805c; --bad:#c2410c; }
* { box-sizing: border-box; }
/* A link in the sticky nav scrolls its target this far below the viewport's top, so a section's heading is
   never hidden under the bar: 38px tall, kept to one line by nav.toc below (+15px if it shows a scrollbar). */
html { scroll-padding-top:56px; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
       color:var(--ink); background:var(--bg); }
header.top { background:#14202e; color:#fff; padding:22px 32px 18px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:650; letter-spacing:.2px; }
header.top .sub { color:#b8c4d2; font-size:13px; }
header.top code { color:#dbe6f2; }
nav.toc { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
          padding:8px 32px; font-size:14px; white-space:nowrap; overflow-x:auto; }
nav.toc a { color:var(--accent); text-decoration:none; margin-right:18px; }
nav.toc a:hover { text-decoration:underline; }
main { max-width:1240px; margin:0 auto; padding:18px 32px 60px; }
.cards { display:flex; flex-wrap:wrap; gap:14px; margin:6px 0 6px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 16px; min-width:180px; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
.card .v { font-size:26px; font-weight:650; font-variant-numeric:tabular-nums; }
.card .ci { color:var(--muted); font-size:12px; font-variant-numeric:tabular-nums; }
section { background:var(--card); border:1px solid var(--line); border-radius:12px; padding:18px 22px; margin:18px 0; }
section h2 { margin:0 0 6px; font-size:20px; }
section h3 { margin:20px 0 8px; font-size:16px; }
section h4 { margin:10px 0 4px; font-size:14px; color:var(--muted); }
p.intro { color:var(--muted); margin:0 0 12px; max-width:900px; }
p.note { color:var(--muted); font-size:13px; margin:6px 0; }
table { border-collapse:collapse; margin:8px 0 12px; font-size:13.5px; font-variant-numeric:tabular-nums; }
caption { caption-side:top; text-align:left; color:var(--muted); font-size:12.5px; padding-bottom:4px; }
th, td { border-bottom:1px solid var(--line); padding:5px 10px; text-align:left; vertical-align:top; }
thead th { background:#f0f3f6; font-weight:600; white-space:nowrap; }
td.num, th.num { text-align:right; white-space:nowrap; }
table.kv thead { display:none; }
table.grouped td:first-child { white-space:nowrap; padding-right:22px; }
table.kv td:first-child, table.facts td:first-child { color:var(--muted); padding-right:24px; }
table.kv table.kv { margin:0; }
table.sortable thead th { cursor:pointer; }
table.sortable thead th[aria-sort]::after { content:" \\2195"; color:var(--muted); }
table.ledger td .reason { color:var(--muted); font-size:12px; display:inline-block; min-width:10em; }
table.ledger .step { font-weight:600; }
table.texts td .text { display:block; max-width:640px; white-space:pre-wrap; word-break:break-word; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; }
.badge.good { background:#dcf3ea; color:var(--good); }
.badge.bad { background:#fde5d8; color:var(--bad); }
.badge.neutral { background:#e3eef8; color:#0b5d94; }
.badge.muted { background:#eceff2; color:var(--muted); }
table.confusion td.cm-cell { text-align:center; min-width:56px; font-weight:600; }
table.confusion td.dark { color:#fff; }
table.confusion td.diag { outline:2px solid #14202e; outline-offset:-2px; }
table.confusion th.corner { color:var(--muted); font-weight:500; font-size:12px; }
span.bar { display:inline-block; width:70px; height:8px; background:#eceff2; border-radius:4px; margin-right:8px;
           vertical-align:middle; overflow:hidden; }
span.bar span { display:block; height:100%; background:var(--accent); }
div.scroll { overflow-x:auto; max-width:100%; }
.charts { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
figure.chart { margin:6px 0 10px; max-width:100%; overflow-x:auto; }
figure.chart svg { display:block; max-width:100%; height:auto; }
figure.chart figcaption { color:var(--muted); font-size:12.5px; max-width:640px; margin-top:4px; }
svg text { font-family:inherit; }
svg .grid { stroke:#edf0f3; }
svg .axis { stroke:#8a96a3; }
svg .tick { font-size:11px; fill:#4b5663; }
svg .tick.strong { font-weight:600; fill:var(--ink); }
svg .label { font-size:12px; fill:#4b5663; }
svg .value { font-size:11.5px; font-weight:600; fill:var(--ink); }
svg .connector { stroke:#8a96a3; stroke-dasharray:3 3; }
svg .whisker { stroke:#14202e; stroke-width:1.5; fill:none; }
svg .diagonal { stroke:#9aa5b1; stroke-dasharray:5 4; }
ul.warnings { background:#fff6e6; border:1px solid #f3d19c; border-radius:8px; padding:8px 12px 8px 28px; }
details { margin:6px 0; }
details summary { cursor:pointer; font-weight:600; }
details small { color:var(--muted); font-weight:400; margin-left:6px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:20px; }
@media print { nav.toc { position:static; } section { break-inside:avoid; } }
"""

JS = """
(function () {
  "use strict";
  // Sort a table by the clicked column: numbers numerically, everything else as text.
  function key(cell) {
    var text = cell.textContent.trim().replace(/,/g, "");
    var value = parseFloat(text);
    return isNaN(value) ? text.toLowerCase() : value;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, column) {
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("thead th").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          if (x === y) { return 0; }
          return (x < y ? -1 : 1) * (ascending ? 1 : -1);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""
