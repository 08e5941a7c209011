"""The judged process: it rebuilds a student's definitions and calls them for the judge.

Started by :mod:`.judge` as ``python -I -S -B judged.py CONFIG`` inside a sandbox whose
Python sees only the standard library and the packages the task allows (NumPy; for
PyTorch exercises, PyTorch). It speaks :mod:`wire` messages: requests on stdin,
replies on the stream that was stdout; the student's own prints go nowhere.

Requests
--------
``{"op": "define", "cells": [[index, source], ...], "skip": [[index, statement], ...]}``
    Runs the notebook's definitions in a fresh namespace, cell by cell and statement by
    statement: imports, ``def``, ``class`` and assignments to plain names. Other
    statements (demonstrations, loops, prints, training runs) are not run, and a
    statement that fails is skipped. Before each statement it sends
    ``{"at": [index, statement]}``, so that the judge can skip a statement that ends
    the process. Replies ``{"defined": [...], "failed": [...]}``.
``{"op": "call", "function": name, "args": [...], "kwargs": {...}, "guard": [...],
"count": name}``
    Calls a function of the namespace. Replies ``{"value": ...,
    "args_after": [...]}`` or ``{"raised": text, "type": name}`` or ``{"missing": text}``.
``{"op": "procedure", "name": ..., "function": ..., "data": {...}}``
    Runs a :data:`catalogue.PROCEDURES` entry on a student's function or class.

Everything sent back is plain data (see :mod:`wire`); what the judge does with it is
decided in the judge's own process.
"""
from __future__ import annotations

import ast
import builtins
import json
import os
import sys


def _setup(config: dict):
    for path in config.get("path", []):
        if path not in sys.path:
            sys.path.append(path)
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    from launch import apply_rlimits

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
    def __init__(self, out):
        import catalogue
        import wire

        self.wire, self.catalogue, self.out = wire, catalogue, out
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

    def _decode_args(self, values):
        out = []
        for value in values:
            out.append(self.catalogue.build(value) if isinstance(value, self.wire.Function) else value)
        return out

    def call(self, request: dict) -> dict:
        name = request["function"]
        fn = self.namespace.get(name)
        if fn is None:
            return {"missing": f"`{name}` is not defined"}
        if not callable(fn):
            return {"missing": f"`{name}` is a {type(fn).__name__}, not a function"}
        args = self._decode_args(request.get("args", []))
        kwargs = dict(zip(request.get("kwargs", {}).keys(),
                          self._decode_args(request.get("kwargs", {}).values())))
        counted = [0]
        helper = request.get("count")
        original = self.namespace.get(helper) if helper else None
        if helper and not callable(original):
            return {"missing_helper": helper}
        if helper and callable(original):
            def counting(*a, **k):
                counted[0] += 1
                return original(*a, **k)

            self.namespace[helper] = counting
        import guard

        try:
            value, refused = guard.guarded_call(
                request.get("task", name), fn, args, kwargs,
                extra=[tuple(p) for p in request.get("guard", [])],
                libraries=request.get("libraries", True),
                advice=request.get("advice"))
        except BaseException as error:  # noqa: BLE001 - the student's exception is data
            return {"raised": self.catalogue.describe_error(error)[:4000],
                    "type": type(error).__name__, "counted": counted[0]}
        finally:
            if helper and callable(original):
                self.namespace[helper] = original
        if refused is not None:
            return {"forbidden": refused, "counted": counted[0]}
        after = [a for a in args if hasattr(a, "shape") and hasattr(a, "dtype")]
        return {"value": value, "args_after": after, "counted": counted[0]}

    def procedure(self, request: dict) -> dict:
        function = request["function"]
        if function not in self.namespace:
            return {"missing": f"`{function}` is not defined"}
        name = request["name"]
        import guard

        try:
            result, refused = guard.guarded_call(
                request.get("task", function), self.catalogue.PROCEDURES[name],
                (self.namespace, function, request["data"]), {},
                extra=[tuple(p) for p in request.get("guard", [])],
                libraries=request.get("libraries", True), advice=request.get("advice"))
        except BaseException as error:  # noqa: BLE001
            return {"raised": self.catalogue.describe_error(error)[:4000],
                    "type": type(error).__name__}
        if refused is not None:
            return {"forbidden": refused}
        return {"result": result}

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
    config = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    # the protocol keeps the original stdout; the student's prints go to /dev/null
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    _setup(config)

    def read_exactly(n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = requests.read(left)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    server = Server(protocol)
    server.send({"ready": True})
    server.serve(read_exactly)


if __name__ == "__main__":
    main()
