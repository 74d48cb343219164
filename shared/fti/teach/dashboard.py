"""Static HTML dashboards: one file, figures embedded, readable with no server.

An inference pipeline ends by publishing what it predicted. In the cloud that
is a web page updated by a scheduled job; here it is ``dashboards/SYSTEM/index.html``,
opened in any browser.

Several pipelines can share one page: each writes its own **panel** with
`write_panel` (the batch inference pipeline its predictions, the monitoring
pipeline its verdict and figures), and the page is rebuilt from every panel in
the folder each time. A panel says when it was written, so a page whose
monitoring panel is a day older than its predictions shows it. `write_dashboard`
writes a page of one panel's worth of sections on its own.

Missing values in tables show as "—", never as an empty cell.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from fti.exceptions import ParameterError
from fti.teach.monitoring import NO_RETRAIN, RETRAIN, Verdict

Content = "pd.DataFrame | Figure | Verdict | str"
Section = tuple[str, Content]

MISSING = "—"  # what a missing value shows as in a table
PANELS_DIR = "panels"  # the panels' fragments, next to index.html
_PANEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
nav { margin: 0.5rem 0 1rem; } nav a { margin-right: 1rem; }
section.panel { border-top: 3px solid #ddd; margin-top: 1.5rem; padding-top: 0.2rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #ddd; }
th { background: #f4f4f4; text-align: left; } img { max-width: 100%; }
.verdict { border-left: 6px solid #999; background: #f6f6f6; padding: 0.5rem 1rem; }
.verdict strong { font-size: 1.1rem; } .verdict ul { margin: 0.3rem 0; }
.verdict.retrain { border-color: #c62828; background: #fdecea; }
.verdict.fine { border-color: #2e7d32; background: #edf7ed; }
.verdict.waiting { border-color: #9e9e9e; background: #f4f4f4; }
"""


def figure_png(figure: Figure) -> bytes:
    """PNG bytes of a figure, without the software-version metadata (so files compare equal)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


def _verdict_html(verdict: Verdict) -> str:
    tone = {RETRAIN: "retrain", NO_RETRAIN: "fine"}.get(verdict.status, "waiting")
    reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in verdict.reasons)
    return f'<div class="verdict {tone}"><strong>{html.escape(verdict.status)}</strong><ul>{reasons}</ul></div>'


def _render(content: pd.DataFrame | Figure | Verdict | str) -> str:
    if isinstance(content, pd.DataFrame):
        return content.to_html(index=False, border=0, na_rep=MISSING)
    if isinstance(content, Figure):
        data = base64.b64encode(figure_png(content)).decode("ascii")
        return f'<img alt="figure" src="data:image/png;base64,{data}">'
    if isinstance(content, Verdict):
        return _verdict_html(content)
    return "\n".join(f"<p>{html.escape(line)}</p>" for line in str(content).splitlines() or [""])


def _sections(sections: Sequence[Section], level: int) -> str:
    return "\n".join(f"<h{level}>{html.escape(heading)}</h{level}>\n{_render(content)}"
                     for heading, content in sections)


def _write(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    staging.write_text(text, encoding="utf-8")
    staging.replace(path)
    return path


def _page(title: str, subtitle: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p class=\"meta\">{html.escape(subtitle)}</p>\n{body}\n</body></html>\n"
    )


def write_dashboard(path: str | Path, title: str, subtitle: str, sections: Sequence[Section]) -> Path:
    """Write a one-page dashboard and return its path.

    The page is written to a temporary file first and then renamed, so a reader
    never sees half a page.

    Args:
        path: The HTML file to write (folders are created).
        title: Page heading.
        subtitle: One line under the heading (e.g. the run date and model version).
        sections: ``(heading, content)`` pairs; content is a DataFrame (missing values
            show as "—"), a figure, a monitoring `Verdict` (a coloured box) or text.
    """
    return _write(Path(path), _page(title, subtitle, _sections(sections, 2)))


def write_panel(folder: str | Path, panel: str, title: str, heading: str, subtitle: str,
                sections: Sequence[Section]) -> Path:
    """Write one pipeline's panel of a shared dashboard, then rebuild the page from every panel.

    The panel is kept as ``FOLDER/panels/PANEL.html``; the page ``FOLDER/index.html``
    shows every panel of the folder in the order of their names (name them after
    the notebooks that write them, ``04_batch_inference``, ``05_monitoring``, and the
    page follows the pipelines' order), with links to each at the top.

    Args:
        folder: The dashboard's folder (created if needed).
        panel: The panel's name: letters, digits, ``_`` and ``-``.
        title: The page's heading.
        heading: The panel's heading, e.g. ``"Predictions"``.
        subtitle: One line under it, e.g. the run date and model version.
        sections: ``(heading, content)`` pairs, as for `write_dashboard`.

    Returns:
        The page's path, ``FOLDER/index.html``.

    Raises:
        ParameterError: A panel name with other characters (it becomes a file name).
    """
    if not isinstance(panel, str) or not _PANEL_NAME.match(panel):
        raise ParameterError(f"dashboard panel name {panel!r} must be letters, digits, '_' and '-', "
                             "starting with a letter or digit (e.g. '04_batch_inference')")
    folder = Path(folder)
    fragment = (f'<section class="panel" id="{panel}" data-heading="{html.escape(heading)}">\n'
                f"<h2>{html.escape(heading)}</h2>\n<p class=\"meta\">{html.escape(subtitle)}</p>\n"
                f"{_sections(sections, 3)}\n</section>\n")
    _write(folder / PANELS_DIR / f"{panel}.html", fragment)
    panels = sorted((folder / PANELS_DIR).glob("*.html"))
    fragments = [path.read_text(encoding="utf-8") for path in panels]
    links = []
    for path, text in zip(panels, fragments, strict=True):
        shown = re.search(r'data-heading="([^"]*)"', text)
        links.append(f'<a href="#{path.stem}">{shown.group(1) if shown else html.escape(path.stem)}</a>')
    body = f"<nav>{' '.join(links)}</nav>\n" + "".join(fragments)
    count = f"{len(panels)} panel{'s' if len(panels) != 1 else ''}"
    return _write(folder / "index.html", _page(title, f"{count}, each written by its own pipeline", body))
