"""The page at ``GET /``: a form built from the service's request fields, and the answer beside it.

Plain HTML and a little JavaScript in one response: nothing is fetched from another
server, so it works offline. Every input has a label and its help text is tied to it
(``aria-describedby``); the answer area is announced to screen readers (``aria-live``)
and an error is an ``alert``. Without JavaScript the form still works: it sends a
``GET /predict`` and the browser shows the JSON answer.

The page sends numbers as JSON numbers only when they look like numbers; anything else
goes as typed, so the server's message (naming the field) is the one a person reads.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from fti.serve.fields import RequestField

__all__ = ["render_page"]

_INPUT_MODES = {"int": "numeric", "float": "decimal"}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; padding: 0 1rem; color: #1b1b1b; }
h1 { margin-bottom: 0.2rem; }
.description { color: #444; max-width: 48rem; }
main { display: flex; gap: 3rem; flex-wrap: wrap; align-items: flex-start; }
form { flex: 1 1 20rem; }
.field { margin-bottom: 0.9rem; }
label { display: block; font-weight: 600; }
.kind { font-weight: normal; color: #666; font-size: 0.85rem; }
input, select { font: inherit; padding: 0.3rem 0.4rem; width: 100%; box-sizing: border-box; }
.help { color: #555; font-size: 0.85rem; margin: 0.15rem 0 0; }
button { font: inherit; font-weight: 600; padding: 0.5rem 1.6rem; background: #1f5fbf; color: white;
         border: none; border-radius: 4px; cursor: pointer; }
button:disabled { background: #7a96c2; }
#result { flex: 1 1 24rem; }
#score { font-size: 3.5rem; font-weight: 700; line-height: 1.1; }
#decision { font-size: 1.4rem; font-weight: 600; }
#error { color: #a40000; background: #fff0f0; border-left: 4px solid #a40000; padding: 0.6rem 0.8rem; }
table { border-collapse: collapse; margin-top: 0.8rem; width: 100%; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { text-align: left; padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; font-variant-numeric: tabular-nums; }
.placeholder { color: #666; }
"""

_SCRIPT = """
const form = document.getElementById("request");
const button = document.getElementById("score-button");
const result = document.getElementById("result");

function requestValue(input) {
  const text = input.value;
  const kind = input.dataset.kind;
  if (kind === "int" && /^\\s*[+-]?\\d+\\s*$/.test(text)) return Number(text);
  if (kind === "float" && text.trim() !== "" && Number.isFinite(Number(text))) return Number(text);
  if (kind === "bool" && (text === "true" || text === "false")) return text === "true";
  return text;
}

function shown(value) {
  if (value === null || value === undefined) return "missing";
  if (typeof value === "object") return JSON.stringify(value);
  // 12 significant digits: 1634.6200000000001 (a sum in binary floating point) reads 1634.62.
  if (typeof value === "number" && !Number.isInteger(value)) return String(parseFloat(value.toPrecision(12)));
  return String(value);
}

function addTable(caption, entries) {
  const table = document.createElement("table");
  table.createCaption().textContent = caption;
  const head = table.createTHead().insertRow();
  for (const title of ["name", "value"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = title;
    head.appendChild(th);
  }
  const body = table.createTBody();
  for (const [name, value] of entries) {
    const row = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    row.appendChild(th);
    row.insertCell().textContent = shown(value);
  }
  result.appendChild(table);
  return table;
}

function showAnswer(answer) {
  result.replaceChildren();
  const score = document.createElement("div");
  score.id = "score";
  const value = answer.score;
  score.dataset.value = shown(value);
  score.textContent = typeof value === "number" ? value.toFixed(4) : shown(value);
  score.setAttribute("aria-label", "score " + score.textContent);
  result.appendChild(score);
  if ("decision" in answer) {
    const decision = document.createElement("div");
    decision.id = "decision";
    decision.textContent = shown(answer.decision);
    result.appendChild(decision);
  }
  if (answer.features && typeof answer.features === "object") {
    addTable("Features behind the score", Object.entries(answer.features)).id = "features";
  }
  const others = Object.entries(answer).filter(([name]) => !["score", "decision", "features"].includes(name));
  if (others.length) addTable("Also in the answer", others).id = "others";
}

function showError(message) {
  result.replaceChildren();
  const error = document.createElement("p");
  error.id = "error";
  error.setAttribute("role", "alert");
  error.textContent = message;
  result.appendChild(error);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const request = {};
  for (const input of form.querySelectorAll("[data-kind]")) request[input.name] = requestValue(input);
  button.disabled = true;
  result.setAttribute("aria-busy", "true");
  try {
    const response = await fetch("predict", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(request),
    });
    let answer;
    try {
      answer = await response.json();
    } catch (problem) {
      answer = {error: "the server answered " + response.status + " without JSON"};
    }
    if (response.ok) showAnswer(answer);
    else showError(answer.error || ("the server answered " + response.status));
  } catch (problem) {
    showError("no answer from the server: " + problem.message);
  } finally {
    button.disabled = false;
    result.removeAttribute("aria-busy");
  }
});
"""


def _field_html(field: RequestField) -> str:
    """One labelled input (a true/false choice for a ``bool``), with its help text tied to it."""
    name = html.escape(field.name)
    ident = f"field-{name}"
    described = f' aria-describedby="{ident}-help"' if field.help else ""
    label = f'<label for="{ident}">{name} <span class="kind">({field.kind})</span></label>'
    if field.kind == "bool":
        options = "".join(
            f'<option value="{word}"{" selected" if field.example_text == word else ""}>{word}</option>'
            for word in ("true", "false"))
        control = f'<select id="{ident}" name="{name}" data-kind="bool"{described}>{options}</select>'
    else:
        mode = _INPUT_MODES.get(field.kind)
        inputmode = f' inputmode="{mode}"' if mode else ""
        control = (f'<input id="{ident}" name="{name}" type="text" data-kind="{field.kind}"{inputmode}'
                   f' value="{html.escape(field.example_text)}" autocomplete="off" spellcheck="false"{described}>')
    help_text = f'<p class="help" id="{ident}-help">{html.escape(field.help)}</p>' if field.help else ""
    return f'<div class="field">{label}{control}{help_text}</div>'


def render_page(name: str, description: str, fields: Sequence[RequestField]) -> str:
    """The whole page for a service: title, description, the form and an empty answer area."""
    title = html.escape(name)
    inputs = "\n".join(_field_html(field) for field in fields)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p class="description">{html.escape(description)}</p>
</header>
<main>
<form id="request" action="predict" method="get" aria-label="request">
{inputs}
<button id="score-button" type="submit">Score</button>
</form>
<section id="result" aria-live="polite" aria-label="answer">
<p class="placeholder">Fill in the fields and press <strong>Score</strong>.</p>
</section>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""
