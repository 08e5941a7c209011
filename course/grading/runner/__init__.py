"""The runner: what grades a submission, in the order a submission meets it.

:mod:`.sandbox`     bubblewrap namespaces, read-only views, cgroup or rlimit limits: the
                    box every piece of a submission's code runs in
:mod:`.execute`     runs the submission's notebook inside a sandbox and streams back its
                    outputs as plain data (``python -m course.grading.runner.execute`` is
                    the executor inside)
:mod:`.judge`       the trusted side: draws the seed, runs the judged process (the
                    :mod:`..harness` package, in a sandbox of its own) and turns its replies
                    into verdicts
:mod:`.autograde`   nbgrader's side: the preprocessors ``ExecuteInSandbox`` and
                    ``JudgeTestCells`` that ``nbgrader_config.py`` names, which call the
                    three above (``course.grading.autograde`` stays an alias of it)

Nothing is imported here: the executor starts inside the sandbox with ``-m`` and should
load only what it uses.
"""
