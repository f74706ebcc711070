"""The L2 hit rate every report shows (report_common.l2_hit, L2HitColumn):
hit/(hit+miss) from the two lookup sums where a file has them, else CUPTI's
ratio metric as measured, marked, with values above 100% flagged and
footnoted (docs/profiles/ncu-compare), never clamped."""
from __future__ import annotations

import pytest

from analysis import bconv_report as bc
from analysis import bmm_report as bm
from analysis import btcresults as br
from analysis import layout_report as lr
from analysis import report_common as rc
from analysis import stride_report as sr
from analysis.report_common import DASH

HIT, MISS, PCT = rc.L2_LOOKUP_HIT, rc.L2_LOOKUP_MISS, rc.L2_HIT
SUMS_HEADER = "L2 hit % = hit/(hit+miss)"
RATIO_HEADER = "L2 hit %, CUPTI ratio metric"
MIXED_HEADER = "L2 hit % = hit/(hit+miss), r: CUPTI ratio metric"


# ---------------------------------------------------------------- the helper

def test_both_sums_give_hit_over_hit_plus_miss():
    # The ratio metric beside them is ignored, even above 100%.
    hit = rc.l2_hit({HIT: 900.0, MISS: 100.0, PCT: 125.0})
    assert hit == rc.L2Hit(90.0, from_sums=True)
    assert not hit.over_100
    col = rc.L2HitColumn([hit, None])
    assert col.header() == SUMS_HEADER
    assert col.header(" (bits / int32)") == SUMS_HEADER + " (bits / int32)"
    assert (col.cell(hit), col.cell(None), col.cell(hit, ".2f")) == ("90.0", DASH, "90.00")
    assert col.notes() == []


def test_sums_without_lookups_give_none():
    assert rc.l2_hit({HIT: 0.0, MISS: 0.0, PCT: 0.0}) is None


def test_one_sum_alone_falls_back_to_the_ratio():
    assert rc.l2_hit({HIT: 900.0, PCT: 88.0}) == rc.L2Hit(88.0, from_sums=False)


def test_ratio_above_100_is_flagged_not_clamped():
    hit = rc.l2_hit({PCT: 112.5})
    assert hit == rc.L2Hit(112.5, from_sums=False) and hit.over_100
    below = rc.l2_hit({PCT: 89.25})
    col = rc.L2HitColumn([hit, below])
    assert col.header() == RATIO_HEADER
    assert (col.cell(hit), col.cell(below)) == ("112.5†", "89.2")
    assert col.notes() == ["", rc.L2_OVER_100_NOTE]
    assert "CUPTI's ratio over two passes" in rc.L2_OVER_100_NOTE
    assert "docs/profiles/ncu-compare" in rc.L2_OVER_100_NOTE


def test_ratio_at_most_100_has_no_footnote():
    col = rc.L2HitColumn([rc.l2_hit({PCT: 100.0})])
    assert col.cell(rc.l2_hit({PCT: 100.0})) == "100.0"
    assert col.notes() == []


def test_neither_counter():
    assert rc.l2_hit({"cupti.dram__bytes_read.sum": 1.0}) is None
    assert rc.l2_hit({}) is None and rc.l2_hit(None) is None
    col = rc.L2HitColumn([None, None])
    assert (col.header(), col.cell(None), col.notes()) == ("L2 hit %", DASH, [])


def test_mixed_column_tags_the_ratio_cells():
    sums, ratio, over = rc.l2_hit({HIT: 3.0, MISS: 1.0}), rc.l2_hit({PCT: 60.0}), rc.l2_hit({PCT: 101.0})
    col = rc.L2HitColumn([sums, ratio, over])
    assert col.header() == MIXED_HEADER
    assert (col.cell(sums), col.cell(ratio), col.cell(over)) == ("75.0", "60.0 r", "101.0 r†")
    assert col.notes() == ["", rc.L2_OVER_100_NOTE]


# ---------------------------------------------------------------- in the reports

def _set_l2(doc, **values):
    """Every entry with CUPTI counters gets exactly the L2 counters given
    (hit=, miss=, pct=; the others are removed). Edits doc and returns it."""
    keys = {"hit": HIT, "miss": MISS, "pct": PCT}
    for entry in doc["benchmarks"]:
        if not any(k.startswith("cupti.") for k in entry):
            continue
        for key in keys.values():
            entry.pop(key, None)
        entry.update({keys[k]: v for k, v in values.items()})
    return doc


def _l2_columns(md: str) -> list[tuple[str, list[str], list[str]]]:
    """(header, cells, the two lines after the table) of every table with an
    L2 hit column; pair cells ('a / b') are split."""
    lines = md.splitlines()
    out = []
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("| ---")):
            i += 1
            continue
        header = [c.strip() for c in lines[i].strip("|").split(" | ")]
        j = i + 2
        rows = []
        while j < len(lines) and lines[j].startswith("|"):
            rows.append([c.strip() for c in lines[j].strip("|").split(" | ")])
            j += 1
        col = next((k for k, h in enumerate(header) if h.startswith("L2 hit %")), None)
        if col is not None:
            out.append((header[col], [c for r in rows for c in r[col].split(" / ")], lines[j:j + 2]))
        i = j
    return out


def _stride(results):
    return sr.markdown_report(results, sr.collect(results), "g.png", "c.png")


def _layout(results):
    return lr.markdown_report(results, lr.collect(results), "t.png")


def _bmm(results):
    return bm.markdown_report(results, bm.collect(results), bm.load_peaks(None, "given"), ("a.png", "b.png"))


def _bconv(results):
    return bc.markdown_report(results, bc.collect(results), bm.load_peaks(None, "given"),
                              ["a.png", "b.png", "c.png", "d.png"])


REPORTS = [("stride", _stride), ("layout", _layout), ("bmm", _bmm), ("bconv", _bconv)]


@pytest.fixture(params=REPORTS, ids=[name for name, _ in REPORTS])
def report_doc(request):
    """(doc, render) for each report that shows an L2 hit rate."""
    name, render = request.param
    return request.getfixturevalue(f"{name}_doc"), render


def _columns(report_doc, write_doc, **values):
    doc, render = report_doc
    columns = _l2_columns(render(br.load(write_doc(_set_l2(doc, **values)))))
    assert columns, "no table with an L2 hit column"
    return columns


def test_report_shows_hit_over_hit_plus_miss(report_doc, write_doc):
    # (a) both sums: 900 / (900 + 300) = 75%; the ratio metric beside them (125%) is not shown.
    for header, cells, after in _columns(report_doc, write_doc, hit=900, miss=300, pct=125.0):
        assert header.startswith(SUMS_HEADER) and "ratio" not in header
        shown = [c for c in cells if c != DASH]
        assert shown and set(shown) == {"75.0"}
        assert rc.L2_OVER_100_NOTE not in after


def test_report_marks_the_ratio_and_flags_above_100(report_doc, write_doc):
    # (b) only the ratio metric, above 100%: shown as measured with the mark, footnote below each table.
    for header, cells, after in _columns(report_doc, write_doc, pct=112.5):
        assert header.startswith(RATIO_HEADER)
        shown = [c for c in cells if c != DASH]
        assert shown and set(shown) == {"112.5†"}
        assert after == ["", rc.L2_OVER_100_NOTE]


def test_report_without_either(report_doc, write_doc):
    # (c) neither: a plain header, dashes, no footnote.
    doc, render = report_doc
    md = render(br.load(write_doc(_set_l2(doc))))
    for header, cells, _ in _l2_columns(md):
        assert header.startswith("L2 hit %") and "hit/(hit+miss)" not in header and "ratio" not in header
        assert set(cells) == {DASH}
    assert rc.L2_OVER_100_NOTE not in md
    assert "†" not in md
