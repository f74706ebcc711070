"""analysis.report, the composer: a suite's report plus the paper's section."""
from __future__ import annotations

import pytest

from analysis import bmm_report as bm
from analysis import btcresults as br
from analysis import instr_report as ir
from analysis import paper_tcbnn as paper
from analysis import report
from analysis import stride_report as sr

PAPER_HEADING = f"## {paper.STRIDE_SECTION}"


def test_a_suite_report_alone_has_no_paper_section(stride_path):
    results = br.load(stride_path)
    alone = sr.markdown_report(results, sr.collect(results), "g.png", "c.png")
    assert PAPER_HEADING not in alone.splitlines()
    title, body = paper.stride_section(results)
    composed = sr.markdown_report(results, sr.collect(results), "g.png", "c.png", [(title, body)])
    # the section goes right before Skipped, and nothing else moves
    before, skipped = alone.split("## Skipped\n", 1)
    assert composed == before + "\n".join([PAPER_HEADING, "", *body, ""]) + "\n## Skipped\n" + skipped


def test_render_adds_the_papers_section(stride_path, tmp_path):
    outputs = report.render(br.load(stride_path), tmp_path)
    md = outputs[-1].read_text().splitlines()
    assert md.index(PAPER_HEADING) < md.index("## Skipped")
    assert paper.PAPER["citation"] in "\n".join(md)


def test_suites_without_a_paper_section(instr_path, tmp_path):
    results = br.load(instr_path)
    assert paper.sections_for(results) == ()
    md = report.render(results, tmp_path)[-1].read_text()
    summaries = ir.summarise_forms(results)
    assert md == ir.markdown_report(results, summaries, ir.b1_peak(results, summaries),
                                    "instr_small.throughput.png")


def test_every_paper_section_has_a_report():
    assert set(paper.SECTIONS) <= set(report.RENDERERS)


def test_unknown_suite(instr_doc, write_doc, tmp_path, capsys):
    instr_doc["btcbench"]["suite"] = "membw"
    path = write_doc(instr_doc, "membw.json")
    with pytest.raises(br.ResultsError, match="no report for suite 'membw'"):
        report.render(br.load(path), tmp_path / "out")
    assert report.main([str(path)]) == 1
    assert "no report for suite 'membw'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_bmm_report_reads_only_what_it_is_given(bmm_path, instr_path, tmp_path):
    # An instr file beside the bmm file: the composer hands it over, the report alone does not look.
    gpu = tmp_path / "gpu"
    gpu.mkdir()
    (gpu / "bmm-1.json").write_bytes(bmm_path.read_bytes())
    (gpu / "instr-1.json").write_bytes(instr_path.read_bytes())
    results = br.load(gpu / "bmm-1.json")
    alone = bm.render(results, tmp_path / "alone")[2].read_text().splitlines()
    assert "- **Instruction peaks:** no instr results beside this file" in alone
    composed = report.render(results, tmp_path / "composed")[2].read_text()
    assert "- **Instruction peaks:** `instr-1.json` (the newest instr file beside this one): " in composed


def test_cli_instr_option(bmm_path, instr_path, tmp_path, capsys):
    assert report.main([str(bmm_path), "--out-dir", str(tmp_path), "--instr", str(instr_path)]) == 0
    assert f"`{instr_path.name}` (given): " in (tmp_path / "bmm_small.md").read_text()
    with pytest.raises(SystemExit) as e:
        report.main([str(instr_path), "--out-dir", str(tmp_path), "--instr", str(instr_path)])
    assert e.value.code == 2 and "--instr applies to bmm and bconv results only" in capsys.readouterr().err
    with pytest.raises(ValueError, match="bmm and bconv reports only"):
        report.render(br.load(instr_path), tmp_path, instr_results=br.load(instr_path))
