"""Static HTML dashboards: one file, figures embedded, readable with no server.

An inference pipeline ends by publishing what it predicted. In the cloud that
is a web page updated by a scheduled job; here it is ``dashboards/SYSTEM/index.html``,
rewritten by each batch inference run, and opened in any browser.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

Section = tuple[str, "pd.DataFrame | Figure | str"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; } img { max-width: 100%; }
"""


def figure_png(figure: Figure) -> bytes:
    """PNG bytes of a figure, without the software-version metadata (so files compare equal)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _render(content: pd.DataFrame | Figure | str) -> str:
    if isinstance(content, pd.DataFrame):
        return content.to_html(index=False, border=0, na_rep="")
    if isinstance(content, Figure):
        data = base64.b64encode(figure_png(content)).decode("ascii")
        return f'<img alt="figure" src="data:image/png;base64,{data}">'
    return f"<p>{html.escape(str(content))}</p>"


def write_dashboard(path: str | Path, title: str, subtitle: str, sections: Sequence[Section]) -> Path:
    """Write a one-page dashboard and return its path.

    The page is written to a temporary file first and then renamed, so a reader
    never sees half a page.

    Args:
        path: The HTML file to write (folders are created).
        title: Page heading.
        subtitle: One line under the heading (e.g. the run date and model version).
        sections: ``(heading, content)`` pairs; content is a DataFrame, a figure or text.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"<h2>{html.escape(heading)}</h2>\n{_render(content)}" for heading, content in sections)
    page = (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p class=\"meta\">{html.escape(subtitle)}</p>\n{body}\n</body></html>\n"
    )
    staging = path.with_suffix(".tmp")
    staging.write_text(page, encoding="utf-8")
    staging.replace(path)
    return path
