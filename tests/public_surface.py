"""Each package's public surface (its ``__all__``), locked by ``tests/test_public_surface.py``.

``python -m tests.public_surface`` prints the surface as it is now; ``--write`` stores it in
``tests/public_surface.txt`` — do that only on purpose, and let the diff be reviewed: a name
leaving a package's ``__all__`` breaks whoever imported it.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("carehub", "hub", "adapters", "mappings", "queues", "conformance")
LOCK = Path(__file__).with_name("public_surface.txt")
HEADER = "# the public surface; regenerate with: python -m tests.public_surface --write\n"


def locked() -> list[str]:
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def package_names() -> list[str]:
    """Every package (a folder with ``__init__.py``) under the six top-level packages."""
    names = []
    for top in PACKAGES:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT)
            names.append(".".join(rel.parts))
    return sorted(names)


def public_names(package: str) -> list[str] | None:
    """``__all__`` of ``package``; None for a package that defines no public names at all."""
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return sorted(exported)
    own = [
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, types.ModuleType)  # a submodule imported by someone else
        and getattr(v, "__module__", package) == package
    ]
    return None if not own else ["<no __all__: " + ", ".join(sorted(own)) + ">"]


def surface() -> list[str]:
    lines = []
    for package in package_names():
        names = public_names(package)
        for name in names or ():
            lines.append(f"{package}: {name}")
    return lines


def main(argv: list[str]) -> int:
    text = HEADER + "\n".join(surface()) + "\n"
    if "--write" in argv:
        LOCK.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
