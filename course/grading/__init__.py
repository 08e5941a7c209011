"""Grading: checks students run in their notebooks, and a judge that grades out of their reach.

In the notebook a test cell calls ``ps1.check_correlate2d(correlate2d)``: the visible
cases run at once, in the student's kernel, and say what is wrong. When the instructor
grades, the student's code never runs in the grader's process: the notebook runs in a
sandbox, and the *judge* calls the student's functions in a separate judged process
(which has NumPy, and PyTorch where the task allows it, but not SciPy or the course's
reference code), on inputs drawn from a fresh seed, and compares the answers with
PyTorch in its own process. Only plain data crosses between them.

Module map
----------
The engine
    :mod:`.cases`       ``Case``, ``Mistake``, the reproducible ``Rng``, comparisons
    :mod:`.engine`      ``Task`` and ``CaseTask``, the ``@task`` registry, the result
                        strategies (``ArrayResult``, ``ArraysResult``, ``IntResult``,
                        ``EstimateResult``), ``LocalTarget`` for checks in the notebook
    :mod:`.procedures`  ``ProcedureTask``: a setup handed to a catalogue procedure (a
                        training epoch on a model), its reply judged part by part
    :mod:`.stateful`    ``LayerTask``: an object built, given its state and stepped
                        (a layer's forward and backward passes)
    :mod:`.references`  expected values from PyTorch, shared arithmetic and messages
The runner (:mod:`.runner`, the trusted side that runs grading; in the order a
submission meets it)
    :mod:`.runner.sandbox`    bubblewrap namespaces, read-only views, cgroup or rlimit
                              limits
    :mod:`.runner.execute`    runs a notebook inside a sandbox and streams back its outputs
    :mod:`.runner.judge`      draws the seed, runs the judged process, turns replies into
                              verdicts (``judge_notebook``)
    :mod:`.runner.autograde`  nbgrader preprocessors: ``ExecuteInSandbox``,
                              ``JudgeTestCells`` (``course.grading.autograde`` is an alias
                              kept for configurations that name the old path)
The harness (:mod:`.harness`, the judged process's own package: NumPy, no course)
    :mod:`.harness.judged`     rebuilds the notebook's definitions, answers calls
    :mod:`.harness.protocol`   the call protocol both targets answer through; exact reads
    :mod:`.harness.wire`       the plain-data format: JSON plus ``.npy`` blobs, no pickles
    :mod:`.harness.catalogue`  the callables and procedures the judge can name
    :mod:`.harness.guard`      refuses library shortcuts while student code runs
    :mod:`.harness.launch`     joins the cgroup and sets rlimits before a sandboxed
                               program starts
Before and around grading
    :mod:`.intake`      every submission copied in as data (caps, no links), refused
                        notebooks replaced by the blank release with a note
    :mod:`.late`        late work as a policy: due dates, extensions, penalties
    :mod:`.heldout`     the held-out digits trained networks are scored on
What the instructor is shown
    :mod:`.inert`       student content made inert in the formgrader and the feedback:
                        the sanitizer, ``MakeInert``, the template filters, the CSPs
    :mod:`.formgrader`  a Jupyter server extension: the formgrader's submission views
                        served with a Content-Security-Policy header
The problem sets
    :mod:`.ps1` ... :mod:`.ps5`   one module (ps5: a package) per assignment, one task class
                                  per test cell
    :mod:`.lectures`    the lecture notebooks' exercises (checked in the notebook, never graded)

Adding an exercise
------------------
Write one task class in the problem set's module and one line that exposes its check::

    @task("test_box_blur")                  # the grade id of the test cell
    class BoxBlur(CaseTask):
        result = ArrayResult()              # the function returns one ndarray

        def cases(self, rng, hidden):       # visible cases; more when hidden
            ...
        def expected(self, case):           # (value, "PyTorch float64 on cpu")
            ...
        def mistakes(self, case):           # [Mistake("what they did", value), ...]
            ...

    check_box_blur = BoxBlur.check

The test cell calls ``check_box_blur(box_blur)``; the judge finds the task by the
cell's grade id. Add the typical wrong submissions and their expected messages to
``tests/`` (see the README's contributor section).
"""
