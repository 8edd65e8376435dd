"""The building blocks of petseg's HTML pages: one style, escaped tables and definition lists, embedded
pictures. Every page is one self-contained file that reads offline (no script, nothing fetched)."""

from __future__ import annotations

import base64
import html
import math
from typing import Any

from petseg import __version__

STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1f3a5f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
.ruo{background:#fff4ce;border-bottom:1px solid #e6d28a;padding:8px 32px;font-size:13px;color:#5c4b00}
main{padding:20px 32px;max-width:1280px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);padding:16px 20px;margin-bottom:18px}
h2{font-size:16px;margin:0 0 12px;color:#1f3a5f}
.cards{display:flex;gap:14px;flex-wrap:wrap}
.card{flex:1;min-width:150px;background:#eef3f9;border-radius:6px;padding:10px 14px}
.card b{display:block;font-size:24px;color:#1f3a5f} .card span{font-size:12px;color:#556}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e3e6ea;text-align:right}
th{background:#f0f2f5;font-weight:600} td:first-child,th:first-child{text-align:left}
td.text,th.text{text-align:left}
.picture{text-align:center} .picture img{max-width:100%;height:auto;border:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px;font-size:13px;margin:0}
dt{color:#556} dd{margin:0;word-break:break-word}
pre{background:#f6f8fa;padding:10px;border-radius:6px;font-size:12px;overflow:auto}
.muted{color:#778;font-size:12px}
section.warnings{background:#fff8e1;border-left:5px solid #e0a100}
section.warnings li{margin:3px 0;font-size:13px}
section.warnings h3{font-size:14px;margin:10px 0 4px}
p.warning{background:#fdecea;border-left:5px solid #b3261e;padding:8px 12px;margin:0 0 12px}
.found{color:#1b6e20;font-weight:600} .fp{color:#b3261e;font-weight:600} .missed{color:#8a5a00;font-weight:600}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px;vertical-align:middle}
img.thumb{height:150px;width:auto;border:1px solid #ddd;background:#fff}
"""


def text(value: Any) -> str:
    """A value as escaped HTML text."""
    return html.escape(str(value))


def number(value: Any, digits: int = 2) -> str:
    """A number with `digits` decimals ("n/a" for None or NaN), anything else as escaped text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else text(value)


def table(columns: list[str], rows: list[list[str]], empty: str, text_columns: tuple[int, ...] = ()) -> str:
    """An HTML table of already escaped cells (`text_columns` left-aligned), or `empty` without rows."""
    if not rows:
        return f'<p class="muted">{text(empty)}</p>'
    head = "".join(f'<th class="text">{text(c)}</th>' if k in text_columns else f"<th>{text(c)}</th>"
                   for k, c in enumerate(columns))
    body = "".join("<tr>" + "".join(f'<td class="text">{cell}</td>' if k in text_columns else f"<td>{cell}</td>"
                                    for k, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def definitions(items: dict[str, Any]) -> str:
    """A definition list of the items that are not None (strings escaped, numbers formatted)."""
    return "<dl>" + "".join(f"<dt>{text(k)}</dt><dd>{number(v) if not isinstance(v, str) else text(v)}</dd>"
                            for k, v in items.items() if v is not None) + "</dl>"


def picture(png: bytes, alt: str, css_class: str = "") -> str:
    """An embedded PNG."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="{css_class}" alt="{text(alt)}" src="data:image/png;base64,{data}">'


def page(title: str, heading: str, subtitle: str, body: str) -> str:
    """A whole petseg page: header, research-use note, `body` (already HTML)."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{text(title)}</title><style>{STYLE}</style></head>
<body>
<header><h1>{text(heading)}</h1>
<p>petseg {text(__version__)} &middot; {text(subtitle)}</p></header>
<div class="ruo"><b>Research use only.</b> Automated segmentation, not reviewed by a physician; not for diagnosis
or treatment decisions.</div>
<main>
{body}
</main></body></html>
"""
