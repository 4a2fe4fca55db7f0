"""Every package's ``__all__`` is locked: a change to the public surface is a reviewed diff of
``tests/public_surface.txt`` (regenerate with ``python -m tests.public_surface --write``)."""

from __future__ import annotations

from tests.public_surface import locked, package_names, public_names, surface


def test_every_package_that_defines_public_names_lists_them_in_dunder_all() -> None:
    missing = [
        (p, names)
        for p in package_names()
        if (names := public_names(p)) and names[0].startswith("<no __all__")
    ]
    assert missing == []


def test_every_name_in_dunder_all_exists() -> None:
    import importlib

    absent = [
        f"{p}.{n}"
        for p in package_names()
        for n in (public_names(p) or [])
        if not hasattr(importlib.import_module(p), n)
    ]
    assert absent == []


def test_the_public_surface_is_the_locked_one() -> None:
    now, was = surface(), locked()
    added = sorted(set(now) - set(was))
    removed = sorted(set(was) - set(now))
    assert (added, removed) == ([], []), (
        "public surface changed; review and run `python -m tests.public_surface --write`"
    )
