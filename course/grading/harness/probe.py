"""Which installed files the judged process needs: run by the judge, never imported.

``python -S probe.py ALLOWED GPU`` (JSON lists/booleans) in a fresh interpreter whose
path is site-packages alone: it imports the allowed packages (and, for PyTorch, the
parts tasks use, touching CUDA when GPU), follows their distributions' requirements,
and prints ``{"files": [...], "dists": {...}}``: every module file it loaded, every
shared library it mapped, and the top-level names of the distributions. The judge
(:func:`course.grading.runner.judge.allowed_entries`) turns that into the entries of
site-packages the sandbox shows. Standard library only, besides what it probes.
"""
import importlib
import importlib.metadata as metadata
import json
import re
import sys


def requirements(dist: str, seen: set[str]) -> None:
    """Add ``dist`` and, recursively, what it requires (markers evaluated, extras not)."""
    key = re.sub(r"[-_.]+", "-", dist).lower()
    if key in seen:
        return
    seen.add(key)
    try:
        found = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return
    for line in found.requires or []:
        if "extra ==" in line:
            continue
        name = re.split(r"[ ;<>=!~\[(]", line.strip(), maxsplit=1)[0]
        marker = line.split(";", 1)[1] if ";" in line else ""
        if marker:
            try:
                from packaging.markers import Marker

                if not Marker(marker).evaluate():
                    continue
            except Exception:  # noqa: BLE001 - no packaging, or an odd marker: keep it
                pass
        requirements(name, seen)


def main() -> None:
    names, gpu = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    for name in names:
        importlib.import_module(name)
    if "torch" in names:
        import torch
        import torch.nn
        import torch.nn.functional
        import torch.optim
        import torch.utils.data

        if gpu and torch.cuda.is_available():
            torch.zeros(1, device="cuda").sum().item()
    owners = metadata.packages_distributions()
    needed: set[str] = set()
    for name in names:
        for dist in owners.get(name.split(".")[0], []):
            requirements(dist, needed)
    files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    for dist in sorted(needed):
        try:
            found = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            continue
        files += [str(found.locate_file(f)) for f in found.files or []
                  if str(f).endswith((".py", ".so")) or ".so." in str(f)]
    with open("/proc/self/maps") as maps:
        files += [line.split()[-1] for line in maps if "/" in line]
    print(json.dumps({"files": [f for f in files if f], "dists": owners}))


if __name__ == "__main__":
    main()
