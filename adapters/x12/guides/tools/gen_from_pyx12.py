"""Generate Carehub's X12 guide tables from pyx12's implementation-guide maps.

Provenance: the facts (segment order, usage R/S/N, max use, loop repeats, element
usage, data element numbers, valid codes, syntax notes) come from the map XML files that
ship with pyx12 (https://github.com/azoner/pyx12, BSD-3-Clause, Copyright (c) John Holland;
see ``../data/PYX12-LICENSE.txt``), which transcribe the ASC X12 TR3 implementation guides.
Only data is read from pyx12 — no pyx12 code is used or copied.

Run from the repository root with pyx12 installed (it is a dev dependency)::

    .venv/bin/python -m adapters.x12.guides.tools.gen_from_pyx12

It writes ``adapters/x12/guides/data/*.json``. Generated files carry a ``provenance``
object and are never edited by hand: change this script and run it again.

Shape of the output (``guide.schema`` in docs/x12.md):

* ``<version>.<set>.json`` — one guide: the ST loop as nested ``loop``/``segment`` nodes;
  the pyx12 "wrapper" loops (HEADER, DETAIL, FOOTER) are flattened into their parent, and
  the interchange/group levels (ISA, GS, GE, IEA) are left out — conformance checks those.
* ``dataelements.json`` — data element number → [type, min length, max length].
* ``segments.json`` — segment id → data element number per position (composites as lists),
  gathered from every map; the hand-written tables (``*.yaml``) use it for lengths/types.
* ``codesets.json`` — pyx12's external code lists (states, country, pos, …).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pyx12

MAP_DIR = Path(pyx12.__file__).parent / "map"
OUT_DIR = Path(__file__).resolve().parent.parent / "data"

#: pyx12 map file → (guide id, transaction set, functional group id)
GUIDES: dict[str, tuple[str, str, str]] = {
    "837.5010.X222.A1.xml": ("005010X222A1", "837", "HC"),
    "837Q3.I.5010.X223.A1.xml": ("005010X223A2", "837", "HC"),
    "835.5010.X221.A1.xml": ("005010X221A1", "835", "HP"),
    "277.5010.X212.xml": ("005010X212", "277", "HN"),
    "277.5010.X214.xml": ("005010X214", "277", "HN"),
    "999.5010X231.A1.xml": ("005010X231A1", "999", "FA"),
    "834.5010.X220.A1.xml": ("005010X220A1", "834", "BE"),
    "820.5010.X218.xml": ("005010X218", "820", "RA"),
    "997.4010.xml": ("004010", "997", "FA"),
}


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pyx12")
    except Exception:  # pragma: no cover - metadata missing
        return "unknown"


def provenance(source: str) -> dict[str, str]:
    return {
        "generated_by": "adapters/x12/guides/tools/gen_from_pyx12.py",
        "source": f"pyx12 {_version()} map/{source}",
        "licence": "BSD-3-Clause, Copyright (c) John Holland (see PYX12-LICENSE.txt)",
        "facts_from": "ASC X12 TR3 implementation guides, as transcribed by pyx12",
        "warning": "GENERATED FILE - do not edit by hand; change the generator and re-run",
    }


def _repeat(text: str | None) -> int | None:
    """pyx12 writes ``>1`` for unbounded; None means unbounded here."""
    if text is None or text.strip().startswith(">"):
        return None
    return int(text)


def _element(node: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ref": node.get("xid"),
        "seq": int(node.findtext("seq") or 0),
        "name": (node.findtext("name") or "").strip(),
        "usage": node.findtext("usage") or "S",
        "data_ele": node.findtext("data_ele"),
    }
    codes = node.find("valid_codes")
    if codes is not None:
        values = [c.text for c in codes.iter("code") if c.text is not None]
        if values:
            out["codes"] = values
        if codes.get("external"):
            out["codes_external"] = codes.get("external")
    if node.findtext("regex"):
        out["regex"] = node.findtext("regex")
    rep = node.findtext("repeat")
    if rep and rep.strip() != "1":
        out["repeat"] = _repeat(rep)
    if node.tag == "composite":
        out["components"] = [_element(c) for c in node if c.tag == "element"]
        syntax = [s.text for s in node.findall("syntax") if s.text]
        if syntax:
            out["syntax"] = syntax
    return out


def _segment(node: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {
        "segment": node.get("xid"),
        "name": (node.findtext("name") or "").strip(),
        "usage": node.findtext("usage") or "S",
        "pos": int(node.findtext("pos") or 0),
        "max_use": _repeat(node.findtext("max_use")),
        "elements": [_element(c) for c in node if c.tag in ("element", "composite")],
    }
    syntax = [s.text for s in node.findall("syntax") if s.text]
    if syntax:
        out["syntax"] = syntax
    return out


def _children(node: ET.Element) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for child in node:
        if child.tag == "segment":
            out.append(_segment(child))
        elif child.tag == "loop" and child.get("type") == "wrapper":
            out.extend(_children(child))
        elif child.tag == "loop":
            out.append(_loop(child))
    return out


def _loop(node: ET.Element) -> dict[str, Any]:
    return {
        "loop": node.get("xid"),
        "name": (node.findtext("name") or "").strip(),
        "usage": node.findtext("usage") or "S",
        "repeat": _repeat(node.findtext("repeat")),
        "children": _children(node),
    }


def guide(map_file: str) -> dict[str, Any]:
    root = ET.parse(MAP_DIR / map_file).getroot()
    guide_id, ts_id, fid = GUIDES[map_file]
    st_loop = root.find(".//loop[@xid='ST_LOOP']")
    if st_loop is None:
        raise SystemExit(f"{map_file}: no ST_LOOP")
    root_loop = _loop(st_loop)
    if not any(c.get("segment") == "SE" for c in root_loop["children"]):
        # pyx12's 277.5010.X212.xml closes ST_LOOP before its SE (the map is not listed in
        # pyx12's maps.xml either); the guide puts SE last in the transaction set
        se = root.find(".//segment[@xid='SE']")
        if se is not None:
            root_loop["children"].append(_segment(se))
    return {
        "provenance": provenance(map_file),
        "id": guide_id,
        "transaction_set": ts_id,
        "functional_group": fid,
        "name": (root.findtext("name") or "").strip(),
        "root": root_loop,
    }


def data_elements() -> dict[str, Any]:
    root = ET.parse(MAP_DIR / "dataele.xml").getroot()
    table = {
        d.get("ele_num"): [
            d.get("data_type"),
            int(d.get("min_len") or 0),
            int(d.get("max_len") or 0),
        ]
        for d in root.iter("data_ele")
    }
    return {"provenance": provenance("dataele.xml"), "elements": dict(sorted(table.items()))}


def _segment_layout(seg: ET.Element) -> list[Any]:
    layout: list[Any] = []
    for child in seg:
        if child.tag == "element":
            layout.append(child.findtext("data_ele"))
        elif child.tag == "composite":
            layout.append([c.findtext("data_ele") for c in child if c.tag == "element"])
    return layout


def segment_dictionary() -> dict[str, Any]:
    """Data element numbers per position and syntax notes per segment id, from every map.

    005010 maps win over 004010 ones; among maps of one version, the longest layout wins.
    """
    table: dict[str, dict[str, Any]] = {}
    files = sorted(MAP_DIR.glob("*.xml"), key=lambda p: ("5010" not in p.name, p.name))
    for path in files:
        if not path.name[:3].isdigit():
            continue
        for seg in ET.parse(path).getroot().iter("segment"):
            layout = _segment_layout(seg)
            known = table.get(seg.get("xid") or "")
            if known is None or len(layout) > len(known["elements"]):
                syntax = sorted({s.text for s in seg.findall("syntax") if s.text})
                table[seg.get("xid") or ""] = {"elements": layout, "syntax": syntax}
    return {
        "provenance": provenance("*.xml (segment layouts)"),
        "segments": dict(sorted(table.items())),
    }


def code_sets() -> dict[str, Any]:
    root = ET.parse(MAP_DIR / "codes.xml").getroot()
    sets = {
        cs.findtext("id"): sorted({c.text for c in cs.iter("code") if c.text})
        for cs in root.iter("codeset")
    }
    return {"provenance": provenance("codes.xml"), "codesets": sets}


def write(name: str, data: dict[str, Any], out_dir: Path = OUT_DIR) -> None:
    path = out_dir / name
    path.write_text(json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n")
    sys.stderr.write(f"wrote {path.name}\n")


def main(out_dir: Path = OUT_DIR) -> None:
    """Write every generated table into ``out_dir`` (default: the package's data folder)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for map_file, (guide_id, ts_id, _fid) in GUIDES.items():
        write(f"{guide_id}.{ts_id}.json", guide(map_file), out_dir)
    write("dataelements.json", data_elements(), out_dir)
    write("segments.json", segment_dictionary(), out_dir)
    write("codesets.json", code_sets(), out_dir)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_DIR)
