"""One self-contained HTML page: plotly.js inlined once, every figure and table in order, and a
note where a section's artifacts were missing."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs


@dataclass
class Section:
    title: str
    figures: dict[str, go.Figure] = field(default_factory=dict)  # by the name the report saves each under
    tables: list[pd.DataFrame] = field(default_factory=list)
    text: str = ""
    missing: str | None = None  # why the section is empty: which pipeline to run
    warnings: list[str] = field(default_factory=list)  # what a reader must not miss, shown as notes


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.5rem; }
table.data { border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }
table.data td, table.data th { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
table.data th { background: #f4f4f4; } .note { color: #8a5a00; background: #fff7e6; padding: 0.5rem 1rem; }
.meta { color: #666; font-size: 0.9rem; } nav a { margin-right: 1rem; }
"""


def render_report(title: str, sections: list[Section], meta: str = "") -> str:
    """The page as a string (open it in any browser, no network needed)."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>",
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='meta'>{html.escape(meta)} Generated {created}.</p><nav>",
        *[f"<a href='#s{i}'>{html.escape(s.title)}</a>" for i, s in enumerate(sections)],
        "</nav>",
    ]
    for i, section in enumerate(sections):
        parts.append(f"<h2 id='s{i}'>{html.escape(section.title)}</h2>")
        if section.missing:
            parts.append(f"<p class='note'>Not available: {html.escape(section.missing)}</p>")
            continue
        parts += [f"<p class='note'>{html.escape(w)}</p>" for w in section.warnings]
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        for table in section.tables:
            parts.append(table.to_html(index=False, classes="data", border=0, na_rep="–", float_format=_fmt))
        for figure in section.figures.values():
            parts.append(pio.to_html(figure, include_plotlyjs=False, full_html=False))
    parts.append("</body></html>")
    return "\n".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1 else f"{value:,.2f}"
