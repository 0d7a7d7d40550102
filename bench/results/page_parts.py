"""Pieces of the leaderboard page that hold no record data: its style, its sorting script, the
Pareto front and the inline SVG scatter (accuracy against per-chunk latency)."""

from __future__ import annotations

import math
from html import escape

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1500px}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
thead th{background:#f0f0f0;cursor:pointer;user-select:none}
thead th[aria-sort=ascending]::after{content:" \\25B2"}thead th[aria-sort=descending]::after{content:" \\25BC"}
tr.invalid td{text-decoration:line-through;color:#a00}
.flag{display:inline-block;border-radius:3px;padding:0 4px;font-size:11px;background:#ddd}
.flag-invalid_stream,.flag-failed{background:#f4b4b4}.flag-unconverged{background:#f7e09a}.flag-untrained{background:#c9dcf2}
details ul{margin:0;padding-left:1.2em}td.score{white-space:nowrap}td small{color:#555}svg text{font:11px system-ui,sans-serif}
.built{color:#777;font-size:12px}
"""

# Sort on a header click (numbers numerically, text alphabetically, empty cells last); a
# '#sort=<key>' or '#sort=<key>:desc' fragment clicks that header on load (the tests' hook).
SCRIPT = r"""
(function(){
var table=document.getElementById('leaderboard');if(!table)return;
var heads=table.tHead.rows[0].cells;
function val(td,type){var s=td.getAttribute('data-sort');if(s===null||s==='')return null;
 if(type==='num'){var v=parseFloat(s);return isNaN(v)?null:v;}return s.toLowerCase();}
function sortBy(i,th){var type=th.getAttribute('data-type');
 var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
 for(var k=0;k<heads.length;k++)heads[k].removeAttribute('aria-sort');
 th.setAttribute('aria-sort',dir);
 var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=val(a.cells[i],type),y=val(b.cells[i],type);
  if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
  var c=x<y?-1:(x>y?1:0);return dir==='ascending'?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});
 table.setAttribute('data-sorted',th.getAttribute('data-key')+':'+(dir==='ascending'?'asc':'desc'));}
Array.prototype.forEach.call(heads,function(th,i){th.tabIndex=0;
 th.addEventListener('click',function(){sortBy(i,th);});
 th.addEventListener('keydown',function(e){if(e.key==='Enter')sortBy(i,th);});});
var m=/[#&]sort=([^&:]+)(?::(asc|desc))?/.exec(decodeURIComponent(location.hash));
if(m){Array.prototype.forEach.call(heads,function(th){if(th.getAttribute('data-key')===m[1]){
 th.click();if(m[2]==='desc')th.click();}});}
})();
"""


def pareto_front(points: list[dict], higher_is_better: bool) -> list[str]:
    """Models no other model beats on both latency (lower) and score: by increasing latency."""
    front, best = [], -math.inf
    sign = 1.0 if higher_is_better else -1.0
    for p in sorted(points, key=lambda p: (p["lat"], -sign * p["score"])):
        if sign * p["score"] > best:
            front.append(p["model"])
            best = sign * p["score"]
    return front


def _ticks_log(lo: float, hi: float) -> list[float]:
    out = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        out += [m * 10.0 ** e for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    return out


def scatter_svg(points: list[dict], front: list[str], metric: str, higher_is_better: bool) -> str:
    """Inline SVG: one dot per model (area ~ log parameters), the Pareto front as a step line,
    models with latency but no score as dashed vertical lines, invalid runs as crosses."""
    timed = [p for p in points if math.isfinite(p["lat"]) and p["lat"] > 0]
    scored = [p for p in timed if math.isfinite(p["score"])]
    if not scored:
        return '<p id="scatter-missing">No model has both a score and a CPU latency: no scatter.</p>'
    w, h, left, right, top, bottom = 760, 420, 64, 170, 16, 46
    lo, hi = min(p["lat"] for p in timed) / 1.5, max(p["lat"] for p in timed) * 1.5
    s_lo, s_hi = min(p["score"] for p in scored), max(p["score"] for p in scored)
    pad = (s_hi - s_lo) * 0.08 or 0.05
    s_lo, s_hi = s_lo - pad, s_hi + pad
    x = lambda v: left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (w - left - right)  # noqa: E731
    y = lambda v: top + (s_hi - v) / (s_hi - s_lo) * (h - top - bottom)  # noqa: E731
    parts = [f'<rect x="{left}" y="{top}" width="{w - left - right}" height="{h - top - bottom}" fill="none" stroke="#999"/>']
    for t in _ticks_log(lo, hi):
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{h - bottom}" stroke="#eee"/>'
                     f'<text x="{x(t):.1f}" y="{h - bottom + 14}" text-anchor="middle">{t:g}</text>')
    for i in range(6):
        v = s_lo + (s_hi - s_lo) * i / 5
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
    by_model = {p["model"]: p for p in scored}
    if front:
        pts, prev = [], None
        for m in front:
            px, py = x(by_model[m]["lat"]), y(by_model[m]["score"])
            if prev is not None:
                pts.append(f"{px:.1f},{prev:.1f}")
            pts.append(f"{px:.1f},{py:.1f}")
            prev = py
        pts.append(f"{w - right:.1f},{prev:.1f}")
        parts.append(f'<polyline class="pareto-line" points="{" ".join(pts)}" fill="none" stroke="#2a7" '
                     'stroke-width="1.5" stroke-dasharray="5,3"/>')
    for p in timed:
        name = escape(p["model"], quote=True)
        if not math.isfinite(p["score"]):
            parts.append(f'<g class="unscored" data-model="{name}"><line x1="{x(p["lat"]):.1f}" x2="{x(p["lat"]):.1f}" '
                         f'y1="{top}" y2="{h - bottom}" stroke="#69c" stroke-dasharray="3,3"/><text transform="translate('
                         f'{x(p["lat"]) - 3:.1f},{h - bottom - 4}) rotate(-90)">{name} (no score)</text></g>')
            continue
        cx, cy = x(p["lat"]), y(p["score"])
        r = 3 + 1.2 * math.log10(max(p["params"], 10))
        on_front = p["model"] in front
        cls = "point" + (" pareto" if on_front else "") + (" invalid" if p["invalid"] else "")
        title = (f"{p['model']}: {metric} {p['score']:.3f}{' (not every dataset)' if p['partial'] else ''}, "
                 f"{p['lat']:.3g} ms/chunk, {p['params']:,} parameters{' — INVALID (streaming)' if p['invalid'] else ''}")
        mark = (f'<path d="M{cx - r:.1f},{cy - r:.1f}L{cx + r:.1f},{cy + r:.1f}M{cx - r:.1f},{cy + r:.1f}L{cx + r:.1f},'
                f'{cy - r:.1f}" stroke="#c00" stroke-width="2"/>' if p["invalid"] else
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r:.1f}" fill="{"#2a7" if on_front else "#58a"}" '
                'fill-opacity="0.75" stroke="#333" stroke-width="0.5"/>')
        parts.append(f'<g class="{cls}" data-model="{name}"><title>{escape(title)}</title>{mark}'
                     f'<text x="{cx + r + 2:.1f}" y="{cy + 4:.1f}">{name}</text></g>')
    direction = "higher is better" if higher_is_better else "lower is better"
    parts.append(f'<text x="{(left + w - right) / 2:.0f}" y="{h - 8}" text-anchor="middle">CPU latency per chunk, '
                 'median (ms, log scale)</text>'
                 f'<text transform="translate(14,{(top + h - bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
                 f'mean {escape(metric)} over datasets ({direction})</text>'
                 f'<text x="{w - right + 8}" y="{top + 12}" fill="#2a7">- - Pareto front</text>'
                 f'<text x="{w - right + 8}" y="{top + 28}">dot area ~ log parameters</text>')
    return (f'<svg id="scatter" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" aria-label="{escape(metric)} against CPU latency per chunk">{"".join(parts)}</svg>')
