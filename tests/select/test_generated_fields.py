"""Every field of the generated BMM configuration drives what is built.

Builds tests/select/probe/print_generated_tiles.cpp (every tile constant the
designs derive from kernels/generated/, through kernels/bmm/bmm_tiles.h and
bmm_generated.h) once against the checked-in headers, then once per field with
that one field edited in a copy: each edit must change the printed constants
or stop the build (a static_assert). A field that changes nothing is dead.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "kernels" / "generated"
PROBE = Path(__file__).resolve().parent / "probe" / "print_generated_tiles.cpp"
CXX = shutil.which("g++") or shutil.which("c++")

pytestmark = pytest.mark.skipif(CXX is None, reason="no C++ compiler")

FIELDS = ("a_layout", "b_layout", "block_m", "block_n", "block_k_bits", "stages", "warps", "cluster_m", "cluster_n")
# Another valid value of each field, so an edit is a real change, not a typo.
OTHER_LAYOUT = {
    "kTile8x128": "kRowU32", "kRowU32": "kTile8x128", "kRowU64": "kTile8x128",
    "kMmaFragA16x256": "kRowU32", "kMmaFragB8x256": "kRowU32",
    "kWgmmaSwizzle64": "kWgmmaSwizzle128", "kWgmmaSwizzle128": "kWgmmaSwizzle64",
    "kWgmmaSwizzle32": "kWgmmaSwizzle64", "kWgmmaInterleave": "kWgmmaSwizzle64",
}


def other_value(field: str, value: str) -> str:
    if field.endswith("layout"):
        name = value.rsplit("::", 1)[-1]
        return value.replace(name, OTHER_LAYOUT[name])
    n = int(value)
    if field.startswith("cluster"):
        return str(2 if n == 1 else 1)
    if field == "stages":
        return str(n + 1)
    return str(n * 2)


def constants(text: str) -> dict[str, str]:
    """name -> initializer body of every `inline constexpr BmmConfig kX{...};`."""
    return {m.group(1): m.group(2) for m in re.finditer(r"inline constexpr BmmConfig (k\w+)\{(.*?)\};", text, re.S)}


def build_and_run(include_first: Path | None, out_dir: Path) -> tuple[bool, str]:
    exe = out_dir / "probe"
    cmd = [CXX, "-std=c++17", "-O0", "-o", str(exe)]
    if include_first is not None:
        cmd += ["-I", str(include_first)]
    cmd += ["-I", str(REPO), str(PROBE)]
    built = subprocess.run(cmd, capture_output=True, text=True)
    if built.returncode != 0:
        return False, built.stderr
    return True, subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> str:
    ok, out = build_and_run(None, tmp_path_factory.mktemp("base"))
    assert ok, out
    return out


def edits() -> list[tuple[str, str, str]]:
    """(header, constant, field) for every field of every generated constant."""
    out = []
    for header in sorted(GENERATED.glob("bmm_config_sm*.h")):
        for name, body in constants(header.read_text()).items():
            for field in FIELDS:
                if f"/*{field}*/" in body:
                    out.append((header.name, name, field))
    return out


def test_the_probe_sees_every_design(baseline):
    for line in ("sm75.kBtcWmma:", "sm80.kMmaAnd:", "sm90.kMmaAnd:", "sm90.kWgmmaAnd[-1]:",
                 "sm90.kWgmmaAndCandidates[0]:", "selected sm90: "):
        assert line in baseline
    assert "selected sm75: btc_wmma_" in baseline and "mma_and" not in baseline.split("selected sm75:")[1].split("\n")[0]


def test_every_generated_constant_has_every_field():
    found = {(h, c) for h, c, _ in edits()}
    assert found, "no generated constants found"
    for h, c in found:
        assert sum(1 for e in edits() if e[:2] == (h, c)) == len(FIELDS), (h, c)


@pytest.mark.parametrize("header,constant,field", edits())
def test_field_changes_what_is_built(baseline, tmp_path, header, constant, field):
    copy = tmp_path / "inc" / "kernels" / "generated"
    shutil.copytree(GENERATED, copy)
    text = (copy / header).read_text()
    body = constants(text)[constant]
    m = re.search(rf"/\*{field}\*/ ([^,\n]+)", body)
    edited_body = body.replace(m.group(0), f"/*{field}*/ {other_value(field, m.group(1))}", 1)
    (copy / header).write_text(text.replace(body, edited_body, 1))
    built, out = build_and_run(tmp_path / "inc", tmp_path)
    assert not built or out != baseline, f"{header} {constant}.{field} is read by nothing that is built"


def test_candidate_rows_change_what_is_built(baseline, tmp_path):
    copy = tmp_path / "inc" / "kernels" / "generated"
    shutil.copytree(GENERATED, copy)
    path = copy / "bmm_candidates_sm90.h"
    text = path.read_text()
    first = re.search(r"kWgmmaAndCandidates\[\] = \{\s*\{([^}]*)\}", text)
    values = [v.strip() for v in re.sub(r"/\*\w+\*/", "", first.group(1)).split(",")]
    values[FIELDS.index("stages")] = str(int(values[FIELDS.index("stages")]) - 1)
    text = text[:first.start(1)] + ", ".join(values) + text[first.end(1):]
    path.write_text(text)
    built, out = build_and_run(tmp_path / "inc", tmp_path)
    assert built and out != baseline
