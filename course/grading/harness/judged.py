"""The judged process: it rebuilds a student's definitions and calls them for the judge.

Started by :mod:`course.grading.runner.judge` inside a sandbox whose Python sees only the
standard library, this package (as the top-level package ``harness``) and the packages
the task allows (NumPy; for PyTorch exercises, PyTorch): ``python -I -S -B -c
BOOTSTRAP CONFIG`` (see :data:`BOOTSTRAP`). It speaks :mod:`.wire` messages: requests
on stdin, replies on the stream that was stdout; the student's own prints go nowhere.

Requests
--------
``{"op": "define", "cells": [[index, source], ...], "skip": [[index, statement], ...]}``
    Runs the notebook's definitions in a fresh namespace, cell by cell and statement by
    statement: imports, ``def``, ``class`` and assignments to plain names. Other
    statements (demonstrations, loops, prints, training runs) are not run, and a
    statement that fails is skipped. Before each statement it sends
    ``{"at": [index, statement]}``, so that the judge can skip a statement that ends
    the process. Replies ``{"defined": [...], "failed": [...]}``.
``{"op": "call", ...}``, ``{"op": "procedure", ...}``
    Calls a function of the namespace, or runs a :data:`.catalogue.PROCEDURES` entry on
    one; the request and its reply are those of :mod:`.protocol`.

Everything sent back is plain data (see :mod:`wire`); what the judge does with it is
decided in the judge's own process.
"""
from __future__ import annotations

import ast
import builtins
import json
import os
import sys

from .launch import apply_rlimits

BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv[1]); from harness.judged import main; main()"
"""The program ``python -c`` runs: the folder that holds ``harness/`` comes as its first
argument, the configuration (JSON) as its second."""


def _setup(config: dict):
    for path in config.get("path", []):
        if path not in sys.path:
            sys.path.append(path)
    apply_rlimits(config.get("rlimits", {}))
    for name in config.get("preload", []):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - an allowed package that fails shows up in a call
            pass
    threads = config.get("threads")
    if threads and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))


_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _is_definition(statement: ast.stmt) -> bool:
    if isinstance(statement, _DEFINITIONS):
        return True
    if isinstance(statement, ast.Assign):
        return all(_plain_target(t) for t in statement.targets)
    if isinstance(statement, ast.AnnAssign):
        return statement.value is not None and isinstance(statement.target, ast.Name)
    return False


def _plain_target(target) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_plain_target(t) for t in target.elts)
    return False


class Server:
    """Answers the judge's requests from one namespace of the student's definitions."""

    def __init__(self, out):
        from . import protocol, wire  # NumPy is importable only once _setup has run

        self.protocol, self.wire, self.out = protocol, wire, out
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}

    def send(self, value) -> None:
        try:
            self.wire.write_message(self.out, value)
        except self.wire.WireError as error:  # the student's value was not plain data
            self.wire.write_message(self.out, {"unsendable": str(error)})

    # ---------------------------------------------------------------------------------
    def define(self, request: dict) -> dict:
        skip = {tuple(pair) for pair in request.get("skip", [])}
        defined, failed = [], []
        for index, source in request["cells"]:
            filename = f"<cell {index}>"
            try:
                tree = ast.parse(source, filename)
            except SyntaxError as error:
                failed.append({"cell": index, "line": error.lineno or 0,
                               "error": f"SyntaxError: {error.msg}"})
                continue
            for number, statement in enumerate(tree.body):
                if not _is_definition(statement) or (index, number) in skip:
                    continue
                self.send({"at": [index, number]})
                module = ast.Module(body=[statement], type_ignores=[])
                try:
                    exec(compile(module, filename, "exec"), self.namespace)  # noqa: S102
                except BaseException as error:  # noqa: BLE001 - a failing statement is skipped
                    failed.append({"cell": index, "line": statement.lineno,
                                   "error": f"{type(error).__name__}: {error}"[:500],
                                   "names": _names(statement)})
                    continue
                defined += _names(statement)
        return {"defined": sorted(set(defined)), "failed": failed}

    def call(self, request: dict) -> dict:
        return self.protocol.call(self.namespace, request)

    def procedure(self, request: dict) -> dict:
        return self.protocol.procedure(self.namespace, request)

    def serve(self, read_exactly) -> None:
        while True:
            try:
                request = self.wire.read_message(read_exactly)
            except EOFError:
                return
            op = request.get("op")
            if op == "quit":
                return
            handler = {"define": self.define, "call": self.call,
                       "procedure": self.procedure}.get(op)
            reply = handler(request) if handler else {"error": f"unknown op {op!r}"}
            self.send(reply)


def _names(statement) -> list[str]:
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in statement.names]
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    names = []
    for target in targets:
        names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return names


def main() -> None:
    config = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    # the protocol keeps the original stdout; the student's prints go to /dev/null
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _setup(config)
    from .protocol import exact_reader

    server = Server(protocol)
    server.send({"ready": True})
    server.serve(exact_reader(requests.fileno()))
