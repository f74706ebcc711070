"""analysis.net_summary: per published comparison, the newest batch-1 latency
and the newest images/s at the published (else the paper's) batch across a
folder's net files, each naming its file; a corrupt file is left out by name;
one-line errors. Built from the hand-made net fixture with its model renamed
to one the published table has (resnet18-bireal -> alexnet)."""
from __future__ import annotations

import json
from pathlib import Path

from analysis import net_summary as ns

FIXTURE = Path(__file__).parent / "fixtures" / "net_small.json"


def _as_alexnet(created: str, commit: str, *, batch1: bool = True) -> str:
    text = FIXTURE.read_text().replace("resnet18_bireal", "alexnet").replace("resnet18-bireal", "alexnet")
    doc = json.loads(text)
    doc["btcbench"]["created_utc"] = created
    doc["btcbench"]["git"]["commit"] = commit
    if not batch1:
        doc["benchmarks"] = [b for b in doc["benchmarks"] if "/batch:1/" not in b["name"]]
    return json.dumps(doc)


def _alexnet_row(md: str) -> list[str]:
    line = next(l for l in md.splitlines() if l.startswith("| `alexnet`"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_each_figure_is_the_newest_that_has_it(tmp_path):
    # The older file has batch 1; the newer one has batch 256 only: the latency
    # comes from the older, the images/s from the newer, each named.
    (tmp_path / "net-20261201T000000Z-aaaaaaa.json").write_text(_as_alexnet("2026-12-01T00:00:00Z", "a" * 40))
    (tmp_path / "net-20261202T000000Z-bbbbbbb.json").write_text(
        _as_alexnet("2026-12-02T00:00:00Z", "b" * 40, batch1=False))
    path = ns.write_summary(tmp_path)
    assert path == tmp_path / "net-latest.md"
    row = _alexnet_row(path.read_text())
    ours_ms, rate, files = row[3], row[6], row[8]
    assert ours_ms == "0.080"   # the fixture's 80 µs batch-1 median
    # alexnet's paper batch (512) is in neither file: the newest file's best, so marked.
    assert rate.endswith("(batch 256; batch 512 not measured)")
    assert "latency: `net-20261201T000000Z-aaaaaaa.json` (aaaaaaa)" in files
    assert "images/s: `net-20261202T000000Z-bbbbbbb.json` (bbbbbbb)" in files
    # A model no file measured says so.
    vgg = next(l for l in path.read_text().splitlines() if l.startswith("| `vgg16`"))
    assert "not measured on this GPU" in vgg


def test_a_corrupt_file_is_left_out_by_name(tmp_path):
    (tmp_path / "net-20261201T000000Z-aaaaaaa.json").write_text(_as_alexnet("2026-12-01T00:00:00Z", "a" * 40))
    (tmp_path / "net-20261203T000000Z-ccccccc.json").write_text("{ not json")
    md = ns.write_summary(tmp_path).read_text()
    assert "Left out, corrupt" in md and "`net-20261203T000000Z-ccccccc.json`" in md
    assert "(aaaaaaa)" in _alexnet_row(md)[8]


def test_errors_are_one_line_and_write_nothing(tmp_path, capsys):
    assert ns.main([str(tmp_path / "missing")]) == 2
    assert ns.main([str(tmp_path)]) == 2   # a folder without net files
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(l.startswith("python3 -m analysis.net_summary: error: ") for l in err)
    assert list(tmp_path.iterdir()) == []
