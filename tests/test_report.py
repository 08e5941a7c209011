"""The class report (course/report/): counting, similar submissions, the page, in Chromium.

Fast tests check the pieces on plain data: reading a verdict's message, counting named
mistakes and grouping failures, limits, accuracies, the comparison of code with its
threshold and minimum size, escaping, the Content-Security-Policy and where the report
may be written.

The slow tests grade one small ps1 batch with ``course-admin autograde`` (sandbox on,
about 40 s on 2 cores) and report on it: submissions of the typical-mistake corpus
(tests/submissions/), a copy of the instructor's solution with renamed variables and
other comments, an independent correct solution written differently, and a hostile
student whose id and code carry HTML and scripts. The report's counts must equal what
the corpus implies; the copy must be flagged and the independent solution not; the page
must open from file:// in Chromium with no request leaving it, every figure drawn, no
console error, and nothing the student wrote running.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import types
from pathlib import Path

import nbformat
import pytest

from course import report
from course.report import page, summary
from course.report.collect import ClassRecords, Course, LimitHit, Submission, TaskVerdict
from course.report.similarity import Settings, compare, merge_slices
from course.report.verdicts import Failure, mistake_key, read_accuracy, read_verdict
from coursekit import (
    ROOT,
    autograde,
    load_patches,
    make_course,
    strip_markers,
    submission,
    submit,
)

ARTIFACTS = ROOT / "artifacts" / "report"
GRADING = ["--Execute.timeout=20", "--JudgeTestCells.call_timeout=10"]
CORPUS = ("ps1_instructor", "ps1_flipped_kernel", "ps1_padding_missing", "ps1_stride_off_by_one",
          "ps1_padding_mode", "ps1_exception")
HOSTILE_ID = "<img src=x onerror=alert(1)>"

# --------------------------------------------------------------------------------------
# Verdict messages as the judge writes them (copied from grading records of ps1)
FLIPPED = (
    "correlate2d: case 2 of 7 (all cases, smallest first) failed -- kernel as large as the image.\n"
    "Wrong values: at index (0, 0) expected 2, got -20.5 (largest error 22.5; tolerance "
    "|got - expected| <= 1e-08 + 1e-06 * |expected|).\n"
    "Likely mistake: the kernel is flipped: you computed a convolution (kernel[::-1]); the "
    "'convolution' of deep learning is a cross-correlation, which slides the kernel as it is.\n"
    "  call: fn(image, kernel)\n  image = [[1., 2.]]  (shape (1, 2), dtype float64)")
STRIDE = (
    "correlate2d_strided: case 1 of 6 (all cases, smallest first) failed -- the lecture's 5x5 "
    "example with stride 2.\nWrong shape: expected (2, 2), got (1, 1).\n"
    "Output size: H_out = (H + 2p - d(K-1) - 1)//s + 1 = (5 + 2*0 - 1*(3-1) - 1)//2 + 1 = 2\n"
    "Likely mistake: the stride is off by one: your output matches stride (3, 3) instead of (2, 2).\n"
    "  call: fn(image, kernel, stride=2)")
RAISED = (
    "convolve1d: case 1 of 6 (all cases, smallest first) failed -- kernel of length 1.\n"
    "Your function raised AttributeError: 'numpy.ndarray' object has no attribute 'reverse'\n"
    "  in `convolve1d`, cell 6, line 2\n  call: fn(x, w)")
PASSED = "correlate2d: all 7 cases (visible and on fresh inputs) passed against PyTorch float64 on cpu."


def test_a_verdict_gives_its_case_kind_and_named_mistake():
    failure = read_verdict(FLIPPED)
    assert failure == Failure(
        case="kernel as large as the image", kind="wrong values",
        mistake=("the kernel is flipped: you computed a convolution (kernel[::#]); the "
                 "'convolution' of deep learning is a cross-correlation, which slides the "
                 "kernel as it is."),
        mistake_text=("the kernel is flipped: you computed a convolution (kernel[::-1]); the "
                      "'convolution' of deep learning is a cross-correlation, which slides the "
                      "kernel as it is."))
    # below a wrong shape the judge first writes the output size formula
    stride = read_verdict(STRIDE)
    assert (stride.case, stride.kind) == ("the lecture's 5x5 example with stride 2", "wrong shape")
    assert stride.mistake == "the stride is off by one: your output matches stride (#, #) instead of (#, #)."
    assert not stride.after_exception
    raised = read_verdict(RAISED)
    assert (raised.case, raised.kind, raised.mistake) == ("kernel of length 1", "raised AttributeError", "")


def test_a_likely_mistake_inside_the_students_exception_text_is_not_counted():
    # the exception's text is the student's: a "Likely mistake" line two lines into it is theirs
    forged = ("output_size: case 1 of 19 (all cases, smallest first) failed -- 5, kernel 3.\n"
              "Your function raised ValueError: one\ntwo\nLikely mistake: <b>forged</b>\n"
              "  call: fn(n, k)")
    assert read_verdict(forged).mistake == ""
    assert read_verdict(forged).kind == "raised ValueError"
    # right below the exception's first line is where the judge puts its own diagnosis
    # (error_variants); a student can imitate it there, so it is counted but marked
    below = ("conv2d: case 2 of 5 (all cases, smallest first) failed -- 3 channels.\n"
             "Your function raised ValueError: shapes do not match\n"
             "Likely mistake: the channel axes of `weight` are swapped.\n  call: fn(x, weight)")
    failure = read_verdict(below)
    assert failure.mistake == "the channel axes of `weight` are swapped."
    assert failure.after_exception
    # values the student returned are shown indented, below the judge's lines
    values = ("pad2d: case 1 of 3 (all cases, smallest first) failed -- 3x3 image.\n"
              "Wrong values: at index (0, 0) expected 1, got 2.\nNo typical mistake matches.\n"
              "  got:\nLikely mistake: forged")
    assert read_verdict(values).mistake == ""


def test_a_verdict_with_no_case_header_is_grouped_by_its_first_line():
    failure = read_verdict("correlate1d: not judged: the submission used up its time budget of 300 s.")
    assert failure == Failure(case="not judged: the submission used up its time budget of # s.",
                              kind="other")


def test_mistake_keys_forget_the_numbers_of_the_case():
    assert mistake_key("stride (3, 3) instead of (2, 2).") == mistake_key("stride (2, 2) instead of (1, 1).")
    assert mistake_key("dilation 1.5e-3 and x2") == "dilation # and x2"
    assert mistake_key("you used zero padding") != mistake_key("you used reflect padding")


def test_judged_accuracies_are_read_from_passed_and_failed_verdicts():
    passed = ("trained model: test accuracy 0.9870 (987 of 1000: the public test split, "
              "computed by the judge on cpu) >= 0.95. Passed.")
    assert read_accuracy(passed).value == pytest.approx(0.987)
    assert read_accuracy(passed).required == 0.95
    failed = ("trained_network: hidden check failed -- accuracy on the held-out test split.\n"
              "your network classifies 431 of 1000 test digits correctly (accuracy 0.4310 on "
              "the public test split, computed by the judge in evaluation mode on cpu); at least "
              "0.97 is required.\nTrain as part 4 says.")
    found = read_accuracy(failed)
    assert (found.correct, found.total, found.required) == (431, 1000, 0.97)
    # the same words in a line the student controls are not an accuracy
    assert read_accuracy("evaluate: hidden check failed -- x.\nYour code raised E: your network "
                         "classifies 999 of 1000 test digits correctly (accuracy 1 on a; at least "
                         "0.9 is required") is None
    assert read_accuracy(PASSED) is None


def _verdict(cell: str, message: str) -> TaskVerdict:
    passed = "passed" in message.split("\n")[0] and "failed --" not in message
    return TaskVerdict(cell, passed, message, None if passed else read_verdict(message),
                       read_accuracy(message))


def test_task_summaries_count_named_mistakes_and_group_the_rest_by_case():
    other_stride = STRIDE.replace("(3, 3) instead of (2, 2)", "(1, 1) instead of (2, 2)")
    subs = [
        Submission("b", verdicts={"test_correlate2d": _verdict("test_correlate2d", FLIPPED),
                                  "test_correlate2d_strided": _verdict("test_correlate2d_strided", STRIDE)}),
        Submission("a", verdicts={"test_correlate2d": _verdict("test_correlate2d", FLIPPED),
                                  "test_correlate2d_strided": _verdict("test_correlate2d_strided",
                                                                       other_stride)}),
        Submission("c", verdicts={"test_correlate2d": _verdict("test_correlate2d", PASSED),
                                  "test_convolve1d": _verdict("test_convolve1d", RAISED)}),
        Submission("d", verdicts={"test_convolve1d": _verdict("test_convolve1d", RAISED)}),
        Submission("e", score=3.0),
    ]
    records = ClassRecords("ps1", subs, ["test_convolve1d", "test_correlate2d", "test_correlate2d_strided"],
                           points={"test_correlate2d": 3.0})
    convolve, correlate, strided = summary.task_summaries(records)
    assert (correlate.judged, correlate.passed, correlate.points) == (3, 1, 3.0)
    assert correlate.pass_rate == pytest.approx(1 / 3)
    (flipped,) = correlate.named
    assert flipped.count == 2 and flipped.students == ["a", "b"]  # examples in id order
    assert flipped.example == FLIPPED and flipped.label.startswith("the kernel is flipped")
    # the stride mistake with two different numbers is one mistake, with both wordings
    (stride,) = strided.named
    assert stride.count == 2 and len(stride.wordings) == 2
    assert stride.label.endswith("(1, 1) instead of (2, 2).")  # as student a read it
    assert (convolve.judged, convolve.passed, convolve.named) == (2, 0, [])
    (group,) = convolve.unnamed
    assert (group.text, group.count, dict(group.kinds)) == ("kernel of length 1", 2,
                                                            {"raised AttributeError": 2})


def test_limits_count_each_submission_once_per_limit_with_the_cells():
    subs = [Submission("x", limits=[LimitHit("memory", 4, "4 GiB"), LimitHit("memory", 4),
                                    LimitHit("output", 7)]),
            Submission("y", limits=[LimitHit("memory", 9)]),
            Submission("z", limits=[LimitHit("time budget", 3)], ended="budget"),
            Submission("w")]
    found = {entry.limit: entry for entry in summary.limits(subs)}
    assert set(found) == {"memory", "output", "time budget"}  # "budget" is the time budget's
    assert found["memory"].students == ["x", "y"] and dict(found["memory"].cells) == {4: 1, 9: 1}
    assert found["memory"].example == "4 GiB"
    assert next(entry.limit for entry in summary.limits(subs)) == "memory"  # most frequent first
    assert summary.times([Submission("p", notebook_seconds=2.0, judge_seconds=1.0),
                          Submission("q", notebook_seconds=5.0, judge_seconds=0.5),
                          Submission("r")]) == [("q", 5.0, 0.5), ("p", 2.0, 1.0)]


# --------------------------------------------------------------------------------------
# Code to compare: the release's signature and docstring, then the student's lines
RELEASE = nbformat.read(ROOT / "release" / "ps1" / "ps1.ipynb", as_version=4)
SOURCE = nbformat.read(ROOT / "source" / "ps1" / "ps1.ipynb", as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _released(gid: str) -> str:
    """A release cell without its `# YOUR CODE HERE` and `raise NotImplementedError()`."""
    cell = next(c for c in RELEASE.cells if _grade_id(c) == gid)
    return "\n".join(line for line in cell.source.splitlines()
                     if line.strip() not in ("# YOUR CODE HERE", "raise NotImplementedError()"))


def _solution(gid: str) -> str:
    cell = next(c for c in SOURCE.cells if _grade_id(c) == gid)
    return strip_markers(cell.source)


# The instructor's solutions with every variable renamed and other comments.
COPIED = {gid: _released(gid) + body for gid, body in {
    "correlate1d": '''
    res = np.zeros(L - K + 1)  # room for every window position
    for t in range(L - K + 1):
        res[t] = np.sum(x[t:t + K] * w)
    return res''',
    "convolve1d": '''
    # flip the kernel, then correlate
    return correlate1d(x, np.asarray(w)[::-1])''',
    "correlate2d": '''
    image = image.astype(np.float64)  # avoid wrap-around of small integer types
    result = np.zeros((H - KH + 1, W - KW + 1))
    for r in range(H - KH + 1):
        for c in range(W - KW + 1):
            result[r, c] = np.sum(image[r:r + KH, c:c + KW] * kernel)
    return result''',
    "pad2d": '''
    if mode == "zeros":
        canvas = np.zeros((H + 2 * ph, W + 2 * pw))
        canvas[ph:ph + H, pw:pw + W] = image
        return canvas
    r_idx = np.arange(-ph, H + ph)
    c_idx = np.arange(-pw, W + pw)
    if mode == "replicate":  # repeat the border
        r_idx = np.clip(r_idx, 0, H - 1)
        c_idx = np.clip(c_idx, 0, W - 1)
    elif mode == "reflect":  # mirror without repeating the border
        r_idx = np.abs(r_idx)
        r_idx = np.where(r_idx > H - 1, 2 * (H - 1) - r_idx, r_idx)
        c_idx = np.abs(c_idx)
        c_idx = np.where(c_idx > W - 1, 2 * (W - 1) - c_idx, c_idx)
    else:
        raise ValueError(f"unknown mode {mode!r}")
    return image[r_idx[:, None], c_idx[None, :]]''',
    "output_size": '''
    return (n + 2 * p - d * (k - 1) - 1) // s + 1''',
    "correlate2d_strided": '''
    rows, cols = (H - KH) // sh + 1, (W - KW) // sw + 1
    res = np.zeros((rows, cols))
    for a in range(rows):
        for b in range(cols):
            res[a, b] = np.sum(image[a * sh:a * sh + KH, b * sw:b * sw + KW] * kernel)
    return res''',
    "correlate2d_general": '''
    spread = np.zeros((dh * (KH - 1) + 1, dw * (KW - 1) + 1))
    spread[::dh, ::dw] = kernel  # holes between the taps
    big = pad2d(image, padding, padding_mode)
    return correlate2d_strided(big, spread, stride)''',
}.items()}

# A correct solution written independently: other loops, other NumPy calls.
OWN = {gid: _released(gid) + body for gid, body in {
    "correlate1d": '''
    result = []
    for start in range(L - K + 1):
        total = 0.0
        for offset in range(K):
            total += x[start + offset] * w[offset]
        result.append(total)
    return np.array(result)''',
    "convolve1d": '''
    reversed_kernel = np.flip(np.asarray(w, dtype=np.float64))
    return correlate1d(x, reversed_kernel)''',
    "correlate2d": '''
    img = np.asarray(image, dtype=float)
    acc = np.zeros((H - KH + 1, W - KW + 1))
    for a in range(KH):
        for b in range(KW):
            acc += kernel[a, b] * img[a:a + H - KH + 1, b:b + W - KW + 1]
    return acc''',
    "pad2d": '''
    if mode not in ("zeros", "reflect", "replicate"):
        raise ValueError(f"`mode` must be zeros, reflect or replicate, got {mode!r}")
    if mode == "zeros":
        side = np.zeros((H, pw))
        middle = np.hstack([side, image, side])
        cap = np.zeros((ph, W + 2 * pw))
        return np.vstack([cap, middle, cap])

    def source_index(t, size):
        if mode == "replicate":
            return min(max(t, 0), size - 1)
        t = -t if t < 0 else t
        return 2 * (size - 1) - t if t > size - 1 else t

    row_ids = [source_index(t, H) for t in range(-ph, H + ph)]
    col_ids = [source_index(t, W) for t in range(-pw, W + pw)]
    return image[np.ix_(row_ids, col_ids)]''',
    "output_size": '''
    effective = d * (k - 1) + 1
    return (n + 2 * p - effective) // s + 1''',
    "correlate2d_strided": '''
    full = correlate2d(image, kernel)
    return full[::sh, ::sw]''',
    "correlate2d_general": '''
    padded = pad2d(image, padding, padding_mode)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    PH, PW = padded.shape
    rows = (PH - (dh * (KH - 1) + 1)) // sh + 1
    cols = (PW - (dw * (KW - 1) + 1)) // sw + 1
    acc = np.zeros((rows, cols))
    for a in range(KH):
        for b in range(KW):
            top, left = a * dh, b * dw
            acc += kernel[a, b] * padded[top:top + (rows - 1) * sh + 1:sh,
                                         left:left + (cols - 1) * sw + 1:sw]
    return acc''',
}.items()}
INSTRUCTOR = {gid: _solution(gid) for gid in COPIED}
BOILERPLATE = [cell.source for cell in RELEASE.cells if cell.cell_type == "code"]


def test_a_copy_with_renamed_variables_is_flagged_and_an_independent_solution_is_not():
    found = compare({"instructor": INSTRUCTOR, "copied": COPIED, "own": OWN}, BOILERPLATE)
    scores = {(p.a, p.b): p.score for p in found.pairs}
    assert set(scores) == {("copied", "instructor"), ("copied", "own"), ("instructor", "own")}
    assert [(p.a, p.b) for p in found.flagged] == [("copied", "instructor")]
    assert scores[("copied", "instructor")] >= 0.95
    assert scores[("instructor", "own")] < 0.3 and scores[("copied", "own")] < 0.3
    # the one-line answers are everyone's: left out, for every student
    assert sorted(found.short["output_size"]) == ["copied", "instructor", "own"]
    assert found.sizes["own"]["output_size"] < Settings().min_size <= found.sizes["own"]["pad2d"]
    # the shared stretches are the student's lines, found in both cells
    (pair,) = found.flagged
    cell = next(c for c in pair.cells if c.cell == "correlate1d")
    marked_a = "".join(COPIED["correlate1d"][s:e] for s, e in cell.slices_a)
    marked_b = "".join(INSTRUCTOR["correlate1d"][s:e] for s, e in cell.slices_b)
    assert "np.sum(x[t:t + K] * w)" in marked_a and "np.sum(x[i:i + K] * w)" in marked_b


def test_the_threshold_and_the_minimum_size_decide_what_is_flagged_and_compared():
    codes = {"instructor": INSTRUCTOR, "own": OWN}
    (pair,) = compare(codes, BOILERPLATE).pairs
    assert 0 < pair.score < Settings().threshold
    at = compare(codes, BOILERPLATE, Settings(threshold=pair.score)).flagged
    assert [(p.a, p.b, p.score) for p in at] == [(pair.a, pair.b, pair.score)]
    above = min(1.0, pair.score + 0.01)
    assert compare(codes, BOILERPLATE, Settings(threshold=above)).flagged == []
    # with no minimum every answered cell is compared; with a huge one nobody is
    assert compare(codes, BOILERPLATE, Settings(min_size=0)).short == {}
    everyone_short = compare(codes, BOILERPLATE, Settings(min_size=10_000))
    assert everyone_short.pairs == [] and everyone_short.not_compared == ["instructor", "own"]
    # the release alone (unanswered cells) holds nothing of the student's own
    blank = {gid: next(c.source for c in RELEASE.cells if _grade_id(c) == gid) for gid in OWN}
    unanswered = compare({"blank": blank, "own": OWN}, BOILERPLATE)
    assert unanswered.not_compared == ["blank"]
    assert all("blank" not in students for students in unanswered.short.values())


@pytest.mark.parametrize("values, name", [
    ({"k": 4}, "`k`"), ({"window": 0}, "`window`"), ({"threshold": 0.0}, "`threshold`"),
    ({"threshold": 1.5}, "`threshold`"), ({"min_size": -1}, "`min_size`")])
def test_bad_comparison_settings_are_refused_by_name(values, name):
    with pytest.raises(ValueError, match=name):
        Settings(**values)


def test_merged_slices_are_sorted_disjoint_and_clipped():
    import numpy as np

    assert merge_slices(np.array([[8, 0, 3, 20], [12, 5, 6, 30]]), 10) == [(0, 6), (8, 10)]
    assert merge_slices(np.array([[], []]), 10) == []


def test_marked_code_escapes_everything_and_greys_the_release():
    hostile = "x = 1\ny = '</pre><script>alert(1)</script>'\n"
    text = str(page.marked_code(hostile, [(6, len(hostile))], given="x = 1"))
    assert "<script" not in text and "&lt;/pre&gt;&lt;script&gt;" in text
    assert text.startswith('<span class="given">x = 1</span>\n<mark>')
    # long runs of released lines are folded to their first line
    given = "\n".join(f"line {i}" for i in range(10))
    folded = str(page.marked_code(given + "\nmine\n", [], given=given))
    assert "line 0" in folded and "line 5" not in folded and "9 more lines as released" in folded


def test_the_policy_allows_only_data_images_and_the_one_style_element():
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(page.STYLE.encode()).digest()).decode()
    assert page.policy() == (f"default-src 'none'; img-src data:; style-src 'sha256-{digest}'; "
                             "base-uri 'none'; form-action 'none'")


def test_the_report_is_never_written_where_students_read(tmp_path, monkeypatch):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with (tmp_path / "nbgrader_config.py").open("a") as config:
        config.write('\nc.Exchange.root = "/srv/course-exchange"\n')
    monkeypatch.setenv("COURSE_EXCHANGE_ROOT", str(tmp_path / "hub-exchange"))
    course = Course.read(tmp_path)
    assert course.records == (tmp_path / "grading_records").resolve()
    assert report.check_target(course, report.default_target(tmp_path, "ps1")) == \
        (tmp_path / "reports" / "ps1" / "index.html").resolve()
    assert report.check_target(course, "elsewhere/") == (tmp_path / "elsewhere" / "index.html").resolve()
    for refused in ("feedback/ann/ps1/report.html", "release/ps1/report.html",
                    "/srv/course-exchange/cnn-course/outbound/r.html", "exchange/r.html",
                    tmp_path / "hub-exchange" / "r.html", "release/../feedback/r.html"):
        with pytest.raises(ValueError, match="`to` must not be inside"):
            report.check_target(course, refused)
    with pytest.raises(ValueError, match="`to` must be an .html file"):
        report.check_target(course, "reports/ps1.txt")


def test_the_records_folder_comes_from_the_config_or_the_option(tmp_path):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    with (tmp_path / "nbgrader_config.py").open("a") as config:
        config.write('\nc.Sandboxing.records = "elsewhere/records"\n')
    assert Course.read(tmp_path).records == (tmp_path / "elsewhere" / "records").resolve()
    assert Course.read(tmp_path, "/tmp/other").records == Path("/tmp/other").resolve()
    parser = __import__("argparse").ArgumentParser()
    report.add_arguments(parser)
    args = parser.parse_args(["ps1", "--Sandboxing.records=/x", "--threshold", "0.4"])
    assert (args.assignment, args.records, args.threshold, args.to) == ("ps1", "/x", 0.4, None)


def test_nothing_graded_is_refused_with_a_message(tmp_path, capsys):
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    parser = __import__("argparse").ArgumentParser()
    report.add_arguments(parser)
    assert report.run(parser.parse_args(["ps1"]), tmp_path) == 2
    assert "nothing to report for 'ps1'" in capsys.readouterr().err
    assert report.run(parser.parse_args(["../ps1"]), tmp_path) == 2
    assert "`assignment` must be a folder name" in capsys.readouterr().err


def test_a_page_of_hostile_records_holds_no_markup_of_theirs(tmp_path):
    """The page from hand-made records, no grading: every student string is escaped."""
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    message = FLIPPED
    raised = RAISED.replace("has no attribute 'reverse'", evil)
    subs = [Submission(evil, score=1.0, max_score=3.0,
                       verdicts={"test_correlate2d": _verdict("test_correlate2d", message + evil),
                                 "test_convolve1d": _verdict("test_convolve1d", raised)},
                       limits=[LimitHit("memory", 2, evil)], notebook_seconds=1.0, judge_seconds=0.5),
            Submission("bob", score=3.0, max_score=3.0,
                       verdicts={"test_correlate2d": _verdict("test_correlate2d", PASSED)})]
    code = {evil: {"correlate2d": INSTRUCTOR["correlate2d"] + f"\n    # {evil}"},
            "bob": {"correlate2d": INSTRUCTOR["correlate2d"]}}
    records = ClassRecords("ps1", subs, ["test_correlate1d", "test_convolve1d", "test_correlate2d"],
                           {"test_correlate2d": 3.0}, 3.0, code, BOILERPLATE,
                           {"correlate2d": _released("correlate2d")}, notes=[evil])
    text = report.render_report(records, Settings(min_size=20))
    assert "<script" not in text.lower() and "<img src=x" not in text
    assert not re.search(r"<[^>]*onerror", text)  # no tag carries the handler
    assert text.count(html.escape(evil)) >= 4  # id, note, example, limit
    assert text.count("<img ") == 5  # scores, tasks, limits, times, similarity: ours alone
    assert html.escape(f"# {evil}") in text or "&lt;script&gt;" in text.split("pair-1")[1]


# --------------------------------------------------------------------------------------
# The real thing: a graded ps1 batch
HOSTILE = types.SimpleNamespace(ASSIGNMENT="ps1", CELLS={
    # the flipped kernel, with markup in a comment and a string
    "correlate2d": '''
def correlate2d(image, kernel):
    # </pre><script>alert(3)</script><img src=x onerror=alert(4)>
    note = "</td><script>alert(5)</script>"
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)[::-1, ::-1]
    (H, W), (KH, KW) = image.shape, kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out
''',
    # an exception whose text carries markup and imitates the judge's diagnosis
    "output_size": '''
def output_size(n, k, s=1, p=0, d=1):
    raise ValueError("<script>alert(6)</script><img src=x onerror=alert(7)>\\nsecond line"
                     "\\nLikely mistake: <b>nothing is wrong</b>")
'''})
COPY = types.SimpleNamespace(ASSIGNMENT="ps1", CELLS=COPIED)
INDEPENDENT = types.SimpleNamespace(ASSIGNMENT="ps1", CELLS=OWN)

# What the corpus implies: the named mistakes of each task (a phrase of each) and their counts.
NAMED = {
    "test_correlate1d": {},
    "test_convolve1d": {},
    "test_correlate2d": {"the kernel is flipped": 2},  # ps1_flipped_kernel and the hostile one
    "test_pad2d": {"you used zero padding instead of replicate padding": 1},  # ps1_padding_mode
    "test_output_size": {},
    "test_correlate2d_strided": {"the stride is off by one": 1},  # ps1_stride_off_by_one
    "test_correlate2d_general": {"the padding is missing": 1,  # ps1_padding_missing
                                 "the stride is off by one": 1,  # its strided helper
                                 "you used 'zeros' padding instead of 'replicate'": 1},  # pad2d
}
# Failures the judge names no mistake for: the case and what went wrong.
UNNAMED = {
    "test_convolve1d": {("kernel of length 1", "raised AttributeError"): 1},  # ps1_exception
    "test_output_size": {("AlexNet's first layer: 227, kernel 11, stride 4", "raised ValueError"): 1},
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """A course with one ps1 batch graded (sandbox on): the corpus, a copy, an independent
    solution and a hostile student."""
    root = make_course(tmp_path_factory.mktemp("report-course"), ["ps1"])
    patches = load_patches(ROOT / "tests" / "submissions", ["ps1"])
    students = {name: patches[name] for name in CORPUS}
    students.update({"ps1_copy": COPY, "ps1_independent": INDEPENDENT, HOSTILE_ID: HOSTILE})
    for student, patch in students.items():
        submit(root, student, submission(root, patch), "ps1")
    done = autograde(root, "ps1", nbgrader_args=GRADING, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


@pytest.fixture(scope="module")
def built(graded) -> Path:
    return report.build_report(graded, "ps1")


@pytest.mark.slow
def test_the_report_counts_the_mistakes_the_corpus_implies(graded, built):
    from course.report.collect import collect

    assert built == graded / "reports" / "ps1" / "index.html"
    assert built.stat().st_mode & 0o007 == 0  # not world-readable
    records = collect(Course.read(graded), "ps1")
    assert len(records.submissions) == len(CORPUS) + 3
    tasks = {t.cell: t for t in summary.task_summaries(records)}
    assert list(tasks) == list(NAMED)  # every judged cell, in the notebook's order
    for cell, expected in NAMED.items():
        counts = tasks[cell].named_counts()
        got = {phrase: sum(n for text, n in counts.items() if phrase in text) for phrase in expected}
        assert got == expected, f"{cell}: {counts}"
        assert sum(counts.values()) == sum(expected.values()), f"{cell}: {counts}"
    for cell, expected in UNNAMED.items():
        got = {(g.text, kind): n for g in tasks[cell].unnamed for kind, n in g.kinds.items()}
        assert got == expected, f"{cell}: {got}"
    for cell in set(NAMED) - set(UNNAMED):
        assert tasks[cell].unnamed == [], cell
    # everyone else passed: the independent solution is correct on every task
    failing = {cell: sorted(s.student for s in records.submissions
                            if not s.verdicts[cell].passed) for cell in NAMED}
    assert all("ps1_independent" not in students and "ps1_copy" not in students
               and "ps1_instructor" not in students for students in failing.values())
    assert tasks["test_correlate2d"].passed == len(records.submissions) - 2
    # the scores are the gradebook's
    scores = {s.student: s.score for s in records.submissions}
    assert scores["ps1_instructor"] == scores["ps1_independent"] == scores["ps1_copy"] == 15.0
    assert scores["ps1_padding_mode"] == 10.0 and scores[HOSTILE_ID] == 10.0
    assert all(s.seconds is not None and s.seconds > 0 for s in records.submissions)


@pytest.mark.slow
def test_python_m_course_report_writes_the_page_and_refuses_feedback(graded):
    import subprocess
    import sys

    def report_command(*args):
        return subprocess.run([sys.executable, "-m", "course.report", "--root", str(graded), "ps1",
                               *args], capture_output=True, text=True, timeout=300, check=False)

    done = report_command("--to", "scratch/ps1.html", "--threshold", "0.9")
    assert done.returncode == 0, done.stderr
    assert "<b>0.9</b> (<code>--threshold</code>)" in (graded / "scratch" / "ps1.html").read_text()
    refused = report_command("--to", "feedback/ps1_instructor/ps1/report.html")
    assert refused.returncode == 2 and "`to` must not be inside feedback/" in refused.stderr
    assert not (graded / "feedback").exists()


@pytest.mark.slow
def test_the_copy_is_flagged_and_the_independent_solution_is_not(graded, built):
    from course.report.collect import collect

    records = collect(Course.read(graded), "ps1")
    # the code compared is the solution cells of the autograded notebooks
    assert records.code["ps1_copy"]["correlate1d"].strip() == COPIED["correlate1d"].strip()
    found = compare(records.code, records.boilerplate)
    flagged = {(p.a, p.b) for p in found.flagged}
    assert ("ps1_copy", "ps1_instructor") in flagged
    assert not [pair for pair in flagged if "ps1_independent" in pair]
    text = built.read_text()
    assert "ps1_copy</span> and <span class=\"id\">ps1_instructor" in text


@pytest.mark.slow
def test_the_page_opens_offline_in_chromium_and_runs_nothing_students_wrote(graded, built):
    from browserkit import CHROMIUM, CHROMIUM_FLAGS, require_browser

    require_browser("the class report's browser test")
    from playwright.sync_api import sync_playwright

    text = built.read_text()
    assert "<script" not in text.lower()
    assert html.escape(HOSTILE_ID) in text and html.escape("</pre><script>alert(3)</script>") in text
    assert "nothing is wrong" not in text.split('id="tasks"')[1].split("one example")[0]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests, console, dialogs = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})

            def route(r):
                requests.append(r.request.url)
                if r.request.url.startswith(("file://", "data:")):
                    r.continue_()
                else:
                    r.abort()

            context.route("**/*", route)
            context.add_init_script(
                "window.__violations = [];"
                "document.addEventListener('securitypolicyviolation',"
                " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));")
            tab = context.new_page()
            tab.on("request", lambda r: requests.append(r.url))
            tab.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            tab.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.goto(built.as_uri(), wait_until="load")
            tab.wait_for_timeout(1000)
            images = tab.evaluate("Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])")
            violations = tab.evaluate("window.__violations")
            title = tab.title()
            for details in tab.locator("details").all():  # what is folded away runs nothing either
                details.evaluate("d => d.open = true")
            tab.wait_for_timeout(500)
            tab.screenshot(path=str(ARTIFACTS / "ps1.png"), full_page=True)
        finally:
            browser.close()
    assert {url for url in requests if not url.startswith("data:")} == {built.as_uri()}
    assert len(images) >= 4  # scores, tasks, grading time, similarity
    assert all(complete and width > 0 for _, complete, width in images), images
    assert console == [] and dialogs == [] and violations == []
    assert title == "Class report: ps1"


def test_the_judges_own_word_on_the_named_mistake_wins_over_the_message(tmp_path):
    """Records since the judge writes ``mistake``: a forged line right below the student's
    exception is not counted when the judge named nothing, and a real one is not marked."""
    from course.report.collect import read_records

    forged = ("conv2d: case 2 of 5 (all cases, smallest first) failed -- 3 channels.\n"
              "Your function raised ValueError: shapes do not match\n"
              "Likely mistake: the channel axes of `weight` are swapped.\n  call: fn(x, weight)")
    named = ("pad2d: case 1 of 3 (all cases, smallest first) failed -- 3x3 image.\n"
             "Wrong values: at index (0, 0) expected 1, got 2.\n"
             "Likely mistake: the padding is missing: the output equals the input.\n  call: fn()")
    folder = tmp_path / "ps1" / "ann"
    folder.mkdir(parents=True)
    (folder / "ps1.json").write_text(__import__("json").dumps({"verdicts": {
        "test_conv2d": {"passed": False, "message": forged, "case": "2 of 5: 3 channels",
                        "mistake": ""},
        "test_pad2d": {"passed": False, "message": named, "case": "1 of 3: 3x3 image",
                       "mistake": "the padding is missing: the output equals the input."}}}))
    found, _ = read_records(tmp_path, "ps1")
    verdicts = found["ann"].verdicts
    assert verdicts["test_conv2d"].failure.mistake == ""
    assert verdicts["test_pad2d"].failure.mistake.startswith("the padding is missing")
    assert not verdicts["test_pad2d"].failure.after_exception


def test_reading_the_gradebook_leaves_this_process_path_as_it_was(tmp_path, monkeypatch):
    """nbgrader needs its `alembic` script on PATH to create a gradebook; the report puts
    the scripts folder there only while the gradebook is open."""
    from course.report.collect import read_gradebook

    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    scores, points, maximum, solutions = read_gradebook(
        f"sqlite:///{tmp_path / 'gradebook.db'}", "ps1")
    assert (scores, points, maximum, solutions) == ({}, {}, None, {})
    assert (tmp_path / "gradebook.db").is_file()
    assert os.environ["PATH"] == "/usr/bin:/bin"
