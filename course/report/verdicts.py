"""Reading one verdict of the judge: the failing case, the named mistake, the judged accuracy.

A grading record (:mod:`course.grading.runner.autograde`) keeps, for every test cell the judge
graded, ``{"passed": bool, "message": str}``: the message the student reads. The case
that failed, the typical mistake the judge named and the accuracy of a trained network
are parts of that text, written by the judge in fixed shapes (:mod:`course.grading.engine`)::

    correlate2d: case 2 of 7 (all cases, smallest first) failed -- kernel as large as the image.
    Wrong values: at index (0, 0) expected 2, got -20.5 (...).
    Likely mistake: the kernel is flipped: you computed a convolution (kernel[::-1]); ...
      call: fn(image, kernel)
      ...

Parts of a message quote the student (an exception's text, the values returned), so
the text is read by its position, not searched: the header is the first line, and the
named mistake is the first ``Likely mistake:`` line among the lines the judge writes
before any quoted value (see :func:`read_verdict`). Nothing here is trusted as markup:
the page escapes every string.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Accuracy", "Failure", "failure_kind", "mistake_key", "read_accuracy", "read_verdict"]

LIKELY = "Likely mistake: "
# The judge's header of a failed verdict: "task: case N of M (which) failed -- label." or,
# for tasks judged by checks rather than cases, "task: hidden check failed -- label."
_HEADER = re.compile(
    r"^(?P<task>[^:\n]{1,80}): (?:case (?P<number>\d+) of (?P<of>\d+) \([^)\n]*\)"
    r"|(?:hidden|visible) check) failed -- (?P<label>.*)\.$")
# Lines a problem starts with that quote what the student's code raised or refused
_QUOTES = ("Your function raised ", "Your code raised ", "Forbidden call: ")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


@dataclass(frozen=True)
class Failure:
    """What one failed verdict says, in parts the report can count."""

    case: str
    """The failing case as the judge labels it ("kernel as large as the image"), or the
    verdict's first line when it names no case (a time budget used up, a judge error)."""
    kind: str
    """What went wrong on that case, in a few words: "wrong values", "wrong shape",
    "raised AttributeError", "forbidden call", "time limit per call", ..."""
    mistake: str = ""
    """The named typical mistake, with its numbers replaced by ``#`` (:func:`mistake_key`);
    empty when the judge named none."""
    mistake_text: str = ""
    """The named mistake as the student read it (numbers kept)."""
    after_exception: bool = False
    """The mistake was named right after the student's exception text, which the student
    controls (a name there could be imitated; the page says so)."""


@dataclass(frozen=True)
class Accuracy:
    """The accuracy of a trained network, as the judge computed it on held-out digits."""

    correct: int
    total: int
    required: float | None

    @property
    def value(self) -> float:
        return self.correct / self.total if self.total else 0.0


def mistake_key(text: str) -> str:
    """A named mistake without its case-specific numbers, to count it across submissions.

    Examples
    --------
    >>> mistake_key("the stride is off by one: it matches stride (3, 3) instead of (2, 2).")
    'the stride is off by one: it matches stride (#, #) instead of (#, #).'
    >>> mistake_key("the padding is missing.")
    'the padding is missing.'
    """
    return _NUMBER.sub("#", " ".join(text.split()))


def failure_kind(line: str) -> str:
    """What went wrong, from the first line of a failing case's problem.

    Examples
    --------
    >>> failure_kind("Your function raised AttributeError: 'numpy.ndarray' object has no attribute")
    'raised AttributeError'
    >>> failure_kind("Wrong shape: expected (2, 2), got (1, 1).")
    'wrong shape'
    >>> failure_kind("In `y` (returned value 2 of 2: out, y): Wrong values: at index (0,) ...")
    'wrong values'
    """
    text = re.sub(r"^In `[^`\n]{0,80}` \([^)\n]{0,200}\): ", "", line.strip())
    raised = re.match(r"Your (?:function|code) raised ([A-Za-z_][\w.]{0,80})", text)
    if raised:
        return f"raised {raised.group(1)}"
    known = (("Forbidden call", "forbidden call"), ("Wrong values", "wrong values"),
             ("Wrong shape", "wrong shape"), ("Wrong value", "wrong value"),
             ("Wrong accuracy", "wrong accuracy"),
             ("Your function did not return within", "time limit per call"),
             ("Your function ended the judged process", "ended the judged process"),
             ("Your output holds", "non-finite values"), ("Return ", "wrong return type"),
             ("Your function changed its input", "changed its input"))
    for start, kind in known:
        if text.startswith(start):
            return kind
    if text.startswith(LIKELY):
        return "wrong result"
    if re.match(r"`[^`\n]{1,80}` (?:is not defined|must be a function)", text):
        return "function missing"
    return _gist(text)


def _gist(text: str, limit: int = 70) -> str:
    """A free-form first line in a few words: up to its first colon, semicolon or bracket,
    numbers as ``#``, with the exception it names (``NameError``) if any.

    Examples
    --------
    >>> _gist("`model` could not be read from your notebook when this cell ran: NameError: "
    ...       "name 'model' is not defined")
    '`model` could not be read from your notebook when this cell ran (NameError)'
    """
    head = mistake_key(re.split(r"[:;(\[]", text, maxsplit=1)[0]).strip(" .,")
    if len(head) > limit:
        head = head[:limit].rsplit(" ", 1)[0] + " ..."
    error = re.search(r"\b([A-Z]\w*(?:Error|Exception))\b", text)
    if error and error.group(1) not in head:
        head += f" ({error.group(1)})"
    return head or "no message"


def read_verdict(message: str) -> Failure:
    """The failing case, the kind of failure and the named mistake of a failed verdict.

    The named mistake is the first line that starts with ``Likely mistake:`` among the
    lines before the case's inputs are shown (``  call: ...``, ``  expected``, ``  got``).
    After an exception the judge puts its diagnosis right below the exception's first
    line; the lines after that are the student's text, so a ``Likely mistake:`` there is
    ignored, and one right below is kept but marked ``after_exception``.

    Examples
    --------
    >>> f = read_verdict("pad2d: case 6 of 12 (all cases, smallest first) failed -- 3x4 image, "
    ...                  "padding 2, replicate.\\nWrong values: at index (4, 0) expected 5, got 0."
    ...                  "\\nLikely mistake: you used zero padding instead of replicate padding.")
    >>> f.case, f.kind
    ('3x4 image, padding 2, replicate', 'wrong values')
    >>> f.mistake
    'you used zero padding instead of replicate padding.'
    """
    lines = message.split("\n")
    header = _HEADER.match(lines[0]) if lines else None
    if header is None:
        first = lines[0] if lines else ""
        first = re.sub(r"^[^:\n]{1,80}: ", "", first)
        return Failure(case=mistake_key(first)[:120] or "no message", kind="other")
    problem = lines[1:]
    if not problem:
        return Failure(case=header.group("label"), kind="no message")
    kind = failure_kind(problem[0])
    quoted = problem[0].lstrip().startswith(_QUOTES) or kind.startswith("raised")
    mistake, after = "", False
    for index, line in enumerate(problem):
        if line.startswith("  ") or (quoted and index > 1):
            break  # the case's inputs and values, or the student's own text
        if line.startswith(LIKELY):
            mistake, after = line[len(LIKELY):].strip(), quoted
            break
    return Failure(case=header.group("label"), kind=kind, mistake=mistake_key(mistake),
                   mistake_text=mistake, after_exception=after)


_PASSED_ACCURACY = re.compile(
    r"^trained (?:model|network): test accuracy [0-9.]+ \((?P<correct>\d+) of (?P<total>\d+)"
    r"[^\n]*\) >= (?P<required>[0-9.]+)\. Passed\.")
_FAILED_ACCURACY = re.compile(
    r"^your (?:model|network) classifies (?P<correct>\d+) of (?P<total>\d+) test \w+ correctly "
    r"\(accuracy [0-9.]+ on [^\n]*; at least (?P<required>[0-9.]+) is required")


def read_accuracy(message: str) -> Accuracy | None:
    """The judged accuracy a ps4/ps5 trained-network verdict reports, or None.

    The judge writes it in the verdict of ``test_trained_model`` (ps4) and
    ``test_trained_network`` (ps5): on the first line when it passed, on the line below
    the header when it failed (the header and that line are the judge's alone).

    Examples
    --------
    >>> read_accuracy("trained model: test accuracy 0.9870 (987 of 1000: the public test "
    ...               "split, computed by the judge on cpu) >= 0.95. Passed.")
    Accuracy(correct=987, total=1000, required=0.95)
    """
    lines = message.split("\n")
    found = _PASSED_ACCURACY.match(lines[0]) if lines else None
    if found is None and len(lines) > 1 and _HEADER.match(lines[0]):
        found = _FAILED_ACCURACY.match(lines[1])
    if found is None:
        return None
    correct, total = int(found.group("correct")), int(found.group("total"))
    if total <= 0 or not 0 <= correct <= total:
        return None
    try:
        required = float(found.group("required").rstrip("."))
    except ValueError:
        required = None
    return Accuracy(correct, total, required)
