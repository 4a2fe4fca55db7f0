"""The compact notation of the hand-written guide tables (``data/*.yaml``).

A table is YAML whose ``root`` lists the ST loop's children. A segment is one string::

    NM1 R 1 Subscriber Name | R:IL R:1,2 S S S N S S:II,MI S N N N

``ID USAGE MAX [=] [name] [| element tokens] [! syntax notes]`` — MAX is a number or ``>1``
(unbounded); ``=`` says the segment shares the previous one's position number, so the two
may come in either order (as the guides' same-position segments, e.g. REF qualifiers).
Each element token is ``U`` or ``U:code,code`` (U = R/S/N), a composite is
``U(token token …)``, and ``xN`` after a token allows N repetitions (``x>1`` unbounded).
A final ``...`` means more elements may follow that the table does not describe.
A loop is a one-key mapping ``loop ID USAGE REPEAT [name]: [children]``.

Element references, data element numbers (hence types and lengths) and the segment's X12
syntax notes come from ``segments.json`` (generated from pyx12's maps) when it knows the
segment, so the hand-written part is only what the guide or standard says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["expand", "expand_segment"]


def expand(doc: Mapping[str, Any], layouts: Mapping[str, Any]) -> dict[str, Any]:
    """The compact YAML document → the JSON guide shape."""
    return {
        "provenance": doc.get("provenance", {}),
        "id": str(doc["id"]),
        "transaction_set": str(doc["transaction_set"]),
        "functional_group": doc.get("functional_group", ""),
        "name": doc.get("name", ""),
        "root": {
            "loop": "ST_LOOP",
            "name": "Transaction Set",
            "usage": "R",
            "repeat": None,
            "children": _children(doc["root"], layouts),
        },
    }


def _children(items: Any, layouts: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    pos = 0
    for item in items or ():
        node = _node(item, layouts)
        if node.pop("same_pos", False) is False:
            pos += 10
        node["pos"] = pos
        out.append(node)
    return out


def _node(item: Any, layouts: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        return _segment(item, layouts)
    if isinstance(item, Mapping) and len(item) == 1:
        head, children = next(iter(item.items()))
        words = str(head).split()
        if words[0] == "loop" and len(words) >= 4:
            return {
                "loop": words[1],
                "usage": words[2],
                "repeat": _count(words[3]),
                "name": " ".join(words[4:]),
                "children": _children(children, layouts),
            }
    raise ValueError(f"not a segment or loop entry: {item!r}")


def _count(text: str) -> int | None:
    return None if text.startswith(">") else int(text)


def expand_segment(line: str, layouts: Mapping[str, Any]) -> dict[str, Any]:
    """One compact segment line → the JSON segment shape (for tables of lone segments)."""
    node = _segment(line, layouts)
    node.pop("same_pos", None)
    return node


def _segment(line: str, layouts: Mapping[str, Any]) -> dict[str, Any]:
    head, _, rest = line.partition("|")
    body, _, syntax = rest.partition("!")
    words = head.split()
    seg_id, usage, max_use = words[0], words[1], _count(words[2])
    same_pos = len(words) > 3 and words[3] == "="
    if same_pos:
        del words[3]
    known = layouts.get(seg_id, {"elements": [], "syntax": []})
    tokens = _tokens(body)
    open_ended = bool(tokens) and tokens[-1] == "..."
    if open_ended:
        tokens.pop()
    layout = list(known["elements"])
    count = max(len(tokens), len(layout))
    elements = [
        _element(
            seg_id,
            i + 1,
            tokens[i] if i < len(tokens) else "S",
            layout[i] if i < len(layout) else None,
        )
        for i in range(count)
    ]
    out: dict[str, Any] = {
        "segment": seg_id,
        "usage": usage,
        "max_use": max_use,
        "name": " ".join(words[3:]),
        "elements": elements,
        "syntax": [s for s in syntax.replace(",", " ").split()] or list(known["syntax"]),
        "same_pos": same_pos,
    }
    if open_ended or not (tokens or layout):
        out["open"] = True
    return out


def _tokens(text: str) -> list[str]:
    """Split on spaces, keeping ``U(…)`` composites whole."""
    out: list[str] = []
    depth = 0
    current = ""
    for ch in text.strip() + " ":
        if ch == " " and depth == 0:
            if current:
                out.append(current)
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    return out


def _element(seg_id: str, seq: int, token: str, data_ele: Any, prefix: str = "") -> dict[str, Any]:
    token, _, reps = token.partition("x")
    ref = f"{prefix or seg_id}{'-' if prefix else ''}{seq:02d}"
    out: dict[str, Any] = {"ref": ref, "seq": seq}
    if reps:
        out["repeat"] = _count(reps)
    if "(" in token:
        usage, _, inner = token.partition("(")
        comps = _tokens(inner.rstrip(")"))
        layout = data_ele if isinstance(data_ele, list) else []
        out["usage"] = usage
        out["data_ele"] = None
        out["components"] = [
            _element(
                seg_id,
                j + 1,
                comps[j] if j < len(comps) else "S",
                layout[j] if j < len(layout) else None,
                ref,
            )
            for j in range(max(len(comps), len(layout)))
        ]
        return out
    usage, _, codes = token.partition(":")
    out["usage"] = usage
    out["data_ele"] = data_ele if isinstance(data_ele, str) else None
    if isinstance(data_ele, list):
        # the dictionary knows a composite here; the table wrote it as one token
        out["components"] = [
            _element(seg_id, j + 1, usage if j == 0 else "S", d, ref)
            for j, d in enumerate(data_ele)
        ]
        out["data_ele"] = None
    if codes:
        out["codes"] = codes.split(",")
    return out
