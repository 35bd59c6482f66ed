"""The report's stylesheet, inlined into every page (no external font, image or script)."""

from __future__ import annotations

CSS = """
:root { --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --ink: #1f2328; --muted: #59636e;
  --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: var(--ink);
  font: 14px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 0 20px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 18px 0 6px; }
code { font: 12.5px/1.3 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.banner { display: flex; gap: 22px; align-items: stretch; margin: 20px 0 6px; border-radius: 10px;
  border: 1px solid var(--line); overflow: hidden; }
.banner .verdict { display: flex; align-items: center; justify-content: center; min-width: 130px;
  font-size: 30px; font-weight: 800; letter-spacing: 2px; color: #fff; }
.banner.pass .verdict { background: var(--ok); }
.banner.fail .verdict { background: var(--bad); }
.banner .head { padding: 14px 18px 14px 0; }
.about { color: var(--muted); margin: 0 0 10px; max-width: 900px; }
.facts { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; }
.facts div { display: flex; gap: 6px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.conditions { width: auto; min-width: 480px; }
.mark { font-weight: 700; }
.mark.ok { color: var(--ok); } .mark.bad { color: var(--bad); }
tr.warn td:first-child { color: var(--warn); font-weight: 600; }
tr.bad td, td.bad { color: var(--bad); font-weight: 600; }
td.warn { color: var(--warn); font-weight: 600; }
tr.zero td { color: var(--muted); }
.errors { color: var(--bad); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(104px, 1fr)); gap: 10px;
  margin-top: 22px; }
.tile { border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; background: var(--soft); }
.tile .v { font-size: 18px; font-weight: 700; font-variant-numeric: tabular-nums; white-space: nowrap; }
.tile .k { color: var(--muted); font-size: 12px; }
.tile.bad { border-color: var(--bad); } .tile.bad .v { color: var(--bad); }
.tile.warn .v { color: var(--warn); } .tile.good .v { color: var(--ok); }
.note { color: var(--muted); font-size: 12.5px; margin: 6px 0; }
.strip { position: relative; height: 26px; background: var(--soft); border: 1px solid var(--line);
  border-radius: 4px; }
.fault-band { position: absolute; top: 0; bottom: 0; background: rgba(231, 111, 81, .35);
  border-left: 2px solid #e76f51; font-size: 11px; font-weight: 700; padding: 4px; overflow: hidden;
  white-space: nowrap; }
.axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px; }
.legend { margin: 6px 0 0; padding-left: 18px; }
figure { margin: 14px 0 4px; }
figure img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 12.5px; }
.timeline table { font-size: 12px; }
.timeline tr.focus td { background: #fff8c5; font-weight: 600; }
:target { scroll-margin-top: 10px; }
.timeline:target h3 { background: #fff8c5; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
"""

__all__ = ["CSS"]
