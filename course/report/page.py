"""The report as one static HTML page: escaped text, embedded figures, no script.

The page is rendered by Jinja2 with autoescaping on, so every value (a student's id,
their code, a verdict's message) is escaped unless it is markup this module built
itself from escaped parts (:func:`marked_code`) or a figure's ``data:`` URI. Its
Content-Security-Policy allows images from ``data:`` URIs and the one ``<style>``
element (by its hash), nothing else: no script, no request leaving the page, even if
something were not escaped.
"""
from __future__ import annotations

import base64
import hashlib
import html
import time

import jinja2
from markupsafe import Markup

__all__ = ["FOLD", "STYLE", "marked_code", "policy", "render"]

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 70rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ccc; margin-top: 2.4rem; }
h3 { font-size: 1.08rem; margin: 1.6rem 0 .4rem; }
p.meta, .muted { color: #666; }
p.private { background: #fff4d6; border: 1px solid #e8c76a; padding: .4rem .7rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: #2d7a3e; } td.bad { color: #a33; }
img.figure { display: block; max-width: 100%; height: auto; margin: .5rem 0; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: .5rem; overflow-x: auto;
      font: 12.5px/1.35 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre; }
pre.message { max-height: 22rem; max-width: 40rem; white-space: pre-wrap; overflow-wrap: anywhere; }
details > summary { cursor: pointer; color: #345; }
details.pair-view { margin: 1rem 0; }
details.pair-view > summary { font-weight: 600; font-size: 1.05rem; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; }
.pair pre { margin: 0; min-height: 2rem; min-width: 0; }
mark { background: #ffd88a; }
.given { color: #999; }
.id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
ul.tight li { margin: .15rem 0; }
div.wide { overflow-x: auto; }
td.student { white-space: nowrap; }
"""


def policy(style: str = STYLE) -> str:
    """The page's Content-Security-Policy: data: images and the one style element, no more."""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


FOLD = 4  # a run of this many lines handed out, or more, is shown as its first line and a note


def marked_code(source: str, slices: list[tuple[int, int]], given: str = "") -> Markup:
    """A student's cell as escaped HTML, the shared runs in ``<mark>``.

    Lines that also appear in the code handed out (``given``, compared stripped) are
    shown grey and never marked: matching them says nothing about the students. A run
    of :data:`FOLD` or more such lines (blank lines included) is folded to its first
    line and a note.

    Examples
    --------
    >>> str(marked_code("x = 1\\ny = <b>\\n", [(0, 14)], given="x = 1"))
    '<span class="given">x = 1</span>\\n<mark>y = &lt;b&gt;</mark>\\n'
    """
    handed = {line.strip() for line in given.splitlines() if line.strip()}
    lines, position = [], 0
    for line in source.splitlines(keepends=True):
        start, end = position, position + len(line.rstrip("\r\n"))
        position += len(line)
        text = source[start:end]
        is_given = not text.strip() or text.strip() in handed
        lines.append((start, end, position, is_given and bool(handed)))
    out, index = [], 0
    while index < len(lines):
        run = index
        while run < len(lines) and lines[run][3]:
            run += 1
        if run - index >= FOLD:
            start, end, stop, _ = lines[index]
            out.append(f'<span class="given">{html.escape(source[start:end])}</span>'
                       f'{html.escape(source[end:stop])}'
                       f'<span class="given">    [... {run - index - 1} more lines as '
                       "released ...]</span>\n")
            index = run
            continue
        start, end, stop, is_given = lines[index]
        if is_given:
            out.append(f'<span class="given">{html.escape(source[start:end])}</span>')
        else:
            cursor = start
            for low, high in slices:
                low, high = max(low, start), min(high, end)
                if high <= low:
                    continue
                out.append(html.escape(source[cursor:low]))
                out.append(f"<mark>{html.escape(source[low:high])}</mark>")
                cursor = high
            out.append(html.escape(source[cursor:end]))
        out.append(html.escape(source[end:stop]))
        index += 1
    return Markup("".join(out))


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ policy }}">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Class report: {{ assignment }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>Class report: {{ assignment }}</h1>
<p class="meta">{{ count }} submission{{ "" if count == 1 else "s" }}; written {{ written }} by
<code>course-admin report</code> from the grading records ({{ records }}) and the gradebook,
without grading again.</p>
<p class="private">For instructors only: this page names students, quotes their code and
their mistakes. Keep it out of feedback/, the exchange and anything students can read.</p>
<ul class="tight">
<li><a href="#scores">Scores</a></li>
<li><a href="#tasks">Tasks: pass rates and mistakes</a></li>
<li><a href="#limits">Limits hit</a></li>
<li><a href="#times">Grading time</a></li>
{% if accuracy %}<li><a href="#accuracy">Judged accuracies</a></li>{% endif %}
<li><a href="#similar">Similar submissions</a></li>
<li><a href="#students">Every submission</a></li>
</ul>
{% if notes %}
<h2 id="notes">What could not be read</h2>
<ul>{% for note in notes %}<li>{{ note }}</li>{% endfor %}</ul>
{% endif %}

<h2 id="scores">Scores</h2>
{% if scores.count %}
<p>{{ scores.count }} graded submission{{ "" if scores.count == 1 else "s" }} in the gradebook,
out of {{ scores.max | fmt }} points: mean {{ scores.mean | fmt }}, median {{ scores.median | fmt }},
lowest {{ scores.low | fmt }}, highest {{ scores.high | fmt }};
{{ scores.full }} with full marks.</p>
<img class="figure" alt="Histogram of the scores" src="{{ figures.scores }}">
{% else %}<p>The gradebook has no score for {{ assignment }}.</p>{% endif %}

<h2 id="tasks">Tasks</h2>
<p>One row per test cell the judge graded. A <em>named mistake</em> is the judge's
"Likely mistake" line: given only when one typical mistake reproduces the student's
answers on every case the task ran. Mistakes are counted regardless of their numbers (the
stride that is off by one differs from case to case); each is shown as the first student
read it. Failures with no named mistake are grouped by the case that failed first.</p>
<img class="figure" alt="Outcome of every task" src="{{ figures.tasks }}">
<table>
<tr><th>test cell</th><th>points</th><th>passed</th><th>pass rate</th><th>named mistakes</th><th>no mistake named</th></tr>
{% for t in tasks %}
<tr><td><a href="#task-{{ loop.index }}">{{ t.cell }}</a></td><td class="n">{{ t.points | fmt }}</td>
<td class="n">{{ t.passed }} of {{ t.judged }}</td><td class="n">{{ (100 * t.pass_rate) | round | int }}%</td>
<td class="n">{{ t.named | sum(attribute="count") }}</td><td class="n">{{ t.unnamed | sum(attribute="count") }}</td></tr>
{% endfor %}
</table>
{% for t in tasks %}
<h3 id="task-{{ loop.index }}">{{ t.cell }}: {{ t.passed }} of {{ t.judged }} passed
({{ (100 * t.pass_rate) | round | int }}%)</h3>
{% if t.named %}
<table>
<tr><th>named mistake</th><th>submissions</th><th>students</th><th>one failing case, as the student read it</th></tr>
{% for m in t.named %}
<tr><td>{{ m.label }}{% if m.wordings | length > 1 %} <span class="muted">({{ m.wordings | length }} wordings: the numbers differ from case to case)</span>{% endif %}{% if m.after_exception %}<br><span class="muted">({{ m.after_exception }} named
right after the student's exception text, which the student wrote: check the example)</span>{% endif %}</td>
<td class="n">{{ m.count }}</td><td class="id">{{ m.students | shortlist }}</td>
<td><details><summary>{{ m.students[0] }}</summary><pre class="message">{{ m.example | clip }}</pre></details></td></tr>
{% endfor %}
</table>
{% endif %}
{% if t.unnamed %}
<table>
<tr><th>failing case (no mistake named)</th><th>submissions</th><th>what went wrong</th><th>students</th><th>one example</th></tr>
{% for m in t.unnamed %}
<tr><td>{{ m.text }}</td><td class="n">{{ m.count }}</td>
<td>{% for kind, n in m.kinds.most_common() %}{{ kind }}: {{ n }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td class="id">{{ m.students | shortlist }}</td>
<td><details><summary>{{ m.students[0] }}</summary><pre class="message">{{ m.example | clip }}</pre></details></td></tr>
{% endfor %}
</table>
{% endif %}
{% if not t.named and not t.unnamed %}<p class="muted">Every submission passed.</p>{% endif %}
{% endfor %}

<h2 id="limits">Limits hit</h2>
{% if limits %}
<p>The limits each submission runs under (memory, time per cell and per submission,
processes, output, disk) are set in nbgrader_config.py (<code>Sandboxing</code>) or by
<code>course-admin autograde --memory ...</code>. Cells are counted from 0, as in
<code>course-admin</code>'s summary.</p>
<img class="figure" alt="Submissions that hit each limit" src="{{ figures.limits }}">
<table>
<tr><th>limit</th><th>submissions</th><th>where (cell: submissions)</th><th>students</th><th>the grader's note</th></tr>
{% for l in limits %}
<tr><td>{{ l.limit }}</td><td class="n">{{ l.count }}</td>
<td>{% for cell, n in l.cells.most_common() %}{{ "whole submission" if cell is none else "cell " ~ cell }}: {{ n }}{% if not loop.last %}<br>{% endif %}{% endfor %}</td>
<td class="id">{{ l.students | shortlist }}</td><td>{{ l.example | clip(300) }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No submission hit a limit.</p>{% endif %}

<h2 id="times">Grading time</h2>
{% if times.count %}
<p>Seconds each submission took: its notebook's run in the sandbox and the judge's work on
its test cells, as the grading records measured them (nbgrader's own work and the kernel's
start around them are not included). Total {{ times.total | fmt }} s, median
{{ times.median | fmt }} s, slowest {{ times.high | fmt }} s{% if times.budget %}; each
submission's time budget is {{ times.budget | fmt }} s{% endif %}.</p>
<img class="figure" alt="Grading time per submission" src="{{ figures.times }}">
<table>
<tr><th>slowest</th><th>notebook (s)</th><th>judge (s)</th></tr>
{% for student, notebook, judge in times.slowest %}
<tr><td class="id">{{ student }}</td><td class="n">{{ notebook | fmt }}</td><td class="n">{{ judge | fmt }}</td></tr>
{% endfor %}
</table>
{% else %}<p>No grading record holds a time.</p>{% endif %}

{% if accuracy %}
<h2 id="accuracy">Judged accuracies</h2>
<p>The accuracy of each student's trained network on digits it was not trained on, computed
by the judge (not by the student's code) and read from its verdict.</p>
{% for a in accuracy %}
<h3>{{ a.cell }}: {{ a.count }} submission{{ "" if a.count == 1 else "s" }}, median {{ a.median | fmt }}{% if a.required %},
{{ a.passing }} at or above the required {{ a.required | fmt }}{% endif %}</h3>
<img class="figure" alt="Histogram of the judged accuracies of {{ a.cell }}" src="{{ a.figure }}">
{% endfor %}
{% endif %}

<h2 id="similar">Similar submissions</h2>
<p>What is compared: each student's solution cells (the cells nbgrader marks as solution
cells, from the autograded notebook), one cell with the same cell of every other student,
after the code the release hands out is removed. The method is MOSS's, as
copydetect {{ sim.version }} (github.com/blingenf/copydetect)
implements it: the code is normalised (comments and spacing dropped; every variable,
attribute and module name becomes <code>V</code>, every defined function's name <code>F</code>,
every string <code>S</code>; keywords, operators, numbers and built-in names such as
<code>range</code> stay), cut into overlapping runs of <b>k = {{ sim.k }}</b> characters,
and of each window of <b>{{ sim.window }}</b> runs the smallest hash is kept as a fingerprint.
Any shared stretch of at least {{ sim.guarantee }} normalised characters is found, none
shorter than {{ sim.k }}. Every run of the release's code cells is removed first
(copydetect's <code>boilerplate</code>).</p>
<p><b>The number.</b> A pair's similarity is, for each of the two students, the share of their
own fingerprinted code (over all their compared cells) that lies in stretches the other
student also has; the larger of the two shares is shown and compared with the threshold,
<b>{{ sim.threshold | fmt }}</b> (<code>--threshold</code>). 1.0 means one student's whole
code is found in the other's. A flag is a reason to read the two side by side, not a finding.
The numbers can move by a few hundredths from one run of the report to the next: copydetect
hashes with Python's <code>hash()</code>, salted anew in every process, which changes which
fingerprints winnowing keeps.</p>
<p><b>What it cannot see.</b> Renaming is invisible to it (every name becomes <code>V</code>),
and so are comments and spacing; but it compares the order of the tokens, so code that was
reordered (statements or functions swapped, a loop rewritten as a comprehension, a
<code>for</code> as a <code>while</code>) or changed every few tokens shares only short
stretches and scores low. Built-in names, literals and operators are not normalised:
<code>range(len(x))</code> against <code>range(n)</code> differs. Code in cells students added,
outside the solution cells, is not compared. Very short answers are the same for everyone: a cell
with fewer than <b>{{ sim.min_size }}</b> normalised characters of the student's own code
(<code>--min-size</code>) is left out of the comparison{% if sim.short %} (left out here:
{% for cell, students in sim.short %}{{ cell }} for {{ students | length }}{% if not loop.last %}, {% endif %}{% endfor %}){% endif %}.
Copying from a common source outside the class (the web, an older year) shows only as
pairs that share it.</p>
{% if sim.pairs %}
<img class="figure" alt="Histogram of the similarity of every pair" src="{{ figures.similarity }}">
{% endif %}
{% if sim.not_compared %}<p class="muted">Not compared (no cell long enough): <span class="id">{{ sim.not_compared | shortlist }}</span>.</p>{% endif %}
{% if sim.flagged %}
<p>{{ sim.flagged | length }} pair{{ "" if sim.flagged | length == 1 else "s" }} of {{ sim.pairs | length }} at or above the threshold{% if sim.flagged | length > sim.shown | length %}; the {{ sim.shown | length }} most similar are shown side by side{% endif %}.</p>
<table>
<tr><th>student A</th><th>student B</th><th>similarity</th><th>share of A's code</th><th>share of B's code</th></tr>
{% for p in sim.flagged %}
<tr><td class="id">{{ p.a }}</td><td class="id">{{ p.b }}</td><td class="n">{{ p.score | pct }}</td>
<td class="n">{{ p.similarity_a | pct }}</td><td class="n">{{ p.similarity_b | pct }}</td></tr>
{% endfor %}
</table>
<p class="muted">Side by side, A left and B right: <mark>marked</mark>, the stretches both
have; <span class="given">grey</span>, lines the release hands out (never marked; long runs of
them folded).</p>
{% for p in sim.shown %}
<details class="pair-view" id="pair-{{ loop.index }}"{% if loop.index <= 3 %} open{% endif %}>
<summary><span class="id">{{ p.a }}</span> and <span class="id">{{ p.b }}</span>: {{ p.score | pct }}</summary>
{% for c in p.cells %}
<p><b>{{ c.cell }}</b>: {{ c.similarity_a | pct }} of A's code here, {{ c.similarity_b | pct }} of B's.</p>
<div class="pair"><pre>{{ c.code_a }}</pre><pre>{{ c.code_b }}</pre></div>
{% endfor %}
</details>
{% endfor %}
{% elif sim.pairs %}
<p>No pair reaches the threshold; the most similar pair scores {{ sim.pairs[0].score | pct }}.</p>
{% else %}
<p>Fewer than two submissions have code long enough to compare.</p>
{% endif %}

<h2 id="students">Every submission</h2>
<p>&#10003; passed, &#10007; failed, - no verdict (no grading record of that cell).</p>
<div class="wide">
<table>
<tr><th>student</th><th>score</th>{% for t in tasks %}<th>{{ t.cell | replace("test_", "") }}</th>{% endfor %}<th>seconds</th><th>limits</th></tr>
{% for s in students %}
<tr><td class="id student">{{ s.student }}</td><td class="n">{% if s.score is not none %}{{ s.score | fmt }}{% else %}-{% endif %}</td>
{% for t in tasks %}{% set v = s.verdicts.get(t.cell) %}{% if v is none %}<td class="n">-</td>{% elif v.passed %}<td class="ok">&#10003;</td>{% else %}<td class="bad">&#10007;</td>{% endif %}{% endfor %}
<td class="n">{% if s.seconds is not none %}{{ s.seconds | fmt }}{% else %}-{% endif %}</td>
<td>{{ s.limits | map(attribute="limit") | unique | join(", ") }}{% if s.ended %} (run ended: {{ s.ended }}){% endif %}</td></tr>
{% endfor %}
</table>
</div>
</body>
</html>
"""


def _fmt(value) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value:.0f}" if value.is_integer() else f"{value:.3g}" if abs(value) < 100 \
        else f"{value:.1f}"


def _shortlist(names, limit: int = 12) -> str:
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _clip(text: str, limit: int = 3000) -> str:
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters]"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fmt=_fmt, shortlist=_shortlist, clip=_clip,
                       pct=lambda v: f"{100 * float(v):.0f}%")
    return env


def render(context: dict) -> str:
    """The page from the values :func:`course.report.build_report` gathers.

    ``context`` holds plain values (escaped when shown) and, under ``figures`` and
    ``code_a``/``code_b``, what this package made: ``data:`` URIs and :class:`Markup`.
    """
    values = dict(context, style=Markup(STYLE), policy=policy(STYLE),
                  written=context.get("written") or time.strftime("%Y-%m-%d %H:%M"))
    return _environment().from_string(_TEMPLATE).render(**values)
