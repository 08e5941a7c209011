"""nbgrader configuration of the course (the repository root is the course directory).

Run nbgrader from this folder (or through ``course-admin``): source/ holds the
instructor notebooks, release/ what students get, and submitted/, autograded/,
feedback/, grading_records/ and gradebook.db are created by grading and never committed.
Every setting here is checked by tests/test_nbgrader.py.

Grading runs every submission's code in a sandbox and computes the grades of the
problem sets' test cells with the judge (course/grading/); see the README's "Grading
safely" for what that isolates and how to change the limits below.
"""
import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "cnn-course"
c.CourseDirectory.root = _ROOT
# The gradebook: one SQLite file at the root of the course.
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_ROOT, "gradebook.db")

# Grading kernels import torch (about 2 s, more on a loaded machine) in their first test
# cell; a minute per cell leaves room for that and still stops an infinite loop.
c.Execute.timeout = 60
c.ExecutePreprocessor.timeout = 60
# No history database per kernel, and short tracebacks: an IPython traceback echoes the
# source lines of the failing cell, which would show hidden tests in the feedback.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--InteractiveShell.xmode=Minimal"]

# Every submission's notebook runs in a bubblewrap sandbox (ExecuteInSandbox replaces
# nbgrader's Execute), and the judge writes the verdict of every test cell it grades
# (JudgeTestCells) before nbgrader reads the grades from the outputs. ApplyDueDates writes
# the late-work policy's due date and the student's extension (below) into the gradebook
# before nbgrader's AssignLatePenalties reads them.
c.Autograde.autograde_preprocessors = [
    "course.grading.runner.autograde.ExecuteInSandbox",
    "course.grading.runner.autograde.JudgeTestCells",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "course.grading.late.ApplyDueDates",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# The limits on one submission (course-admin autograde --memory, --budget, ... override them).
c.Sandboxing.sandbox = True                 # False: grade with the grader's rights (--no-sandbox)
c.Sandboxing.memory = 4 * 1024 ** 3         # bytes for everything the submission runs
c.Sandboxing.budget = 300.0                 # seconds for the whole submission, notebook and judge
c.Sandboxing.processes = 256                # processes and threads at once
c.Sandboxing.output = 1_000_000             # bytes of output kept per cell
c.Sandboxing.disk = 512 * 1024 ** 2         # bytes the submission may write (in memory)
# Seconds one call of a student's function may take while the judge grades it.
c.JudgeTestCells.call_timeout = 30.0
# Digits no student has, for scoring trained networks (ps4, ps5): `course-admin heldout`
# writes them here from MNIST's own test files. Without them, the public test split is used.
if os.path.isfile(os.path.join(_ROOT, "heldout", "digits.npz")):
    c.JudgeTestCells.heldout = os.path.join(_ROOT, "heldout", "digits.npz")

# Late work (course/grading/late.py): nbgrader measures lateness from the gradebook's due
# date (plus the student's extension) to the submission's timestamp.txt, and asks this
# plugin for the penalty of each late notebook. By default late work is not penalized; a
# due date set in the formgrader is used for any assignment not named in due_dates.
c.AssignLatePenalties.plugin_class = "course.grading.late.CourseLatePenalty"
c.LatePolicy.rule = "none"                  # "none", "zero" or "percent_per_day"
# For example: 10% of the score per started day, nothing within 15 minutes, at most 50%.
# c.LatePolicy.due_dates = {"ps1": "2026-10-01 23:59 Europe/Berlin", "ps2": "2026-10-15T23:59+02:00"}
# c.LatePolicy.extensions = {"ann": {"ps1": "2 days"}, "bob": {"ps2": "2026-10-18 12:00 Europe/Berlin"}}
# c.LatePolicy.rule = "percent_per_day"
# c.LatePolicy.percent_per_day = 10.0
# c.LatePolicy.grace_minutes = 15.0
# c.LatePolicy.cap_percent = 50.0
# c.LatePolicy.days_rounding = "up"         # "up": every started day counts; "exact": fractions

# A test cell a student deleted is put back from the gradebook when grading.
c.OverwriteCells.add_missing_cells = True

# Anything on stderr scores a test cell 0. Python warnings (a RuntimeWarning from NumPy
# in a correct answer, a DeprecationWarning from a library) are harmless: drop them.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^\S.*:\d+: [A-Za-z]*Warning: "

# Feedback shows grades and messages, never the hidden tests' source; late work gets a
# note at the top (when it was handed in, how late, the penalty).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course.grading.late.ShowLateness",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Only the feedback pages and passive files (images, text, data) of the student's folder
# stay in the feedback folder: a handed-in notes.html or .svg is removed.
c.GenerateFeedback.post_convert_hook = "course.grading.inert.seal_feedback"

# What the instructor is shown runs nothing the student wrote (course/grading/inert.py,
# the README's "What you are shown"). Both nbgrader's formgrader (its submission views)
# and generate_feedback render with nbconvert's HTMLExporter and read these settings:
# student HTML and markdown sanitized, JavaScript and widget outputs shown as notes,
# MathJax from this machine, and the feedback page's Content-Security-Policy. The
# formgrader's pages get their CSP header from course/grading/formgrader.py.
from course.grading import inert as _inert  # noqa: E402

c.HTMLExporter.sanitize_html = True
c.HTMLExporter.skip_svg_encoding = False  # SVG outputs as <img> data URIs: no script runs
c.HTMLExporter.embed_images = False  # never read a file a student's markdown names
c.HTMLExporter.preprocessors = ["course.grading.inert.MakeInert"]
c.HTMLExporter.filters = dict(_inert.FILTERS)  # markdown2html, clean_html, MathJax, the CSP
# nbgrader's formgrade and feedback templates, with the course's mathjax.html.j2 found first.
c.HTMLExporter.extra_template_basedirs = _inert.template_basedirs()

# Students' notebooks are copied into autograded/ with nothing else from their folder
# but small files (data they may have saved); no checkpoints.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]
