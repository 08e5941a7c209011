"""What runs in the judged process, a fresh interpreter that has NumPy (and PyTorch where
a task allows it) but not the course: a package of its own, copied into the sandbox as
the top-level package ``harness`` and imported as a package there and here alike.

==================  ===========================================================
:mod:`.judged`      the judged process's program: rebuilds the student's
                    definitions, answers the judge's requests
:mod:`.protocol`    the call protocol (request and reply), shared with the
                    visible checks' ``engine.LocalTarget``; reading a pipe exactly
:mod:`.wire`        the plain-data format: JSON plus ``.npy`` blobs, no pickles
:mod:`.catalogue`   the one registry of procedures the judge names by string
:mod:`.functions`   the functions handed to student code by name (values, no answers)
:mod:`.torch_procedures`  ps4's: the judge's small CNN, loaders, optimizers, traces
:mod:`.numpy_procedures`  ps5's: the student's layers and networks, built and stepped
:mod:`.errors`      a student's exception as they should read it
:mod:`.guard`       refuses library shortcuts while student code runs (a teaching aid)
:mod:`.launch`      sets the limits a sandboxed program applies to itself (also run
                    as a script by the sandbox; standard library only)
:mod:`.probe`       run by the judge in a fresh interpreter: which installed files
                    the allowed packages need (standard library only)
==================  ===========================================================

Nothing here imports anything of the course outside this package, and this file
imports nothing, so that importing the package needs the standard library alone.
"""
