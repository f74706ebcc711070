"""analysis/sass_hotspots.py on a synthetic ncu source-page export."""
from __future__ import annotations

import pytest

from analysis import sass_hotspots as sh

HEADER = ('"Address","Source","Warp Stall Sampling (All Samples)","Warp Stall Sampling (Not-issued Samples)",'
          '"Instructions Executed","stall_barrier","stall_long_sb","stall_wait","stall_long_sb (Not Issued)"\n')


def row(addr: int, sass: str, samples: int, executed: int, barrier: int = 0, long_sb: int = 0, wait: int = 0) -> str:
    return f'"0x{addr:x}","{sass}","{samples}","{samples}","{executed}","{barrier}","{long_sb}","{wait}","0"\n'


CSV = ('"Kernel Name","k(int)"\n' + HEADER +
       row(0x1000, "LDC R1, c[0x0][0x28]", 2, 4, wait=2) +
       row(0x1010, "WARPGROUP.ARRIVE", 1, 8, wait=1) +
       row(0x1020, "BGMMA.64x256x256.AND.POPC R24, gdesc[UR16], R24, gsb0", 3, 8, wait=3) +
       row(0x1030, "WARPGROUP.DEPBAR.LE gsb0, 0x1", 40, 8, barrier=40) +
       row(0x1040, "@!P0  BRA 0x1030", 30, 8, long_sb=30) +
       row(0x1050, "WARPGROUP.DEPBAR.LE gsb0, 0x0", 4, 1, barrier=4) +
       row(0x1060, "ISETP.GE.AND P1, PT, R11, R158, PT", 10, 16, wait=10) +
       row(0x1070, "EXIT", 0, 1) +
       row(0x1080, "@!P0  BRA 0x1080", 10, 5, long_sb=10))


def test_parse_reads_every_instruction_in_address_order():
    instrs = sh.parse(CSV)
    assert [i.address for i in instrs] == sorted(i.address for i in instrs) and len(instrs) == 9
    assert instrs[3].samples == 40 and instrs[3].stalls["barrier"] == 40 and "long_sb (Not Issued)" not in instrs[3].stalls
    assert instrs[4].opcode == "BRA" and instrs[2].opcode == "BGMMA"


def test_regions_split_at_the_patterns():
    regs = sh.split_regions(sh.parse(CSV), ["WARPGROUP.ARRIVE", "DEPBAR.LE gsb0, 0x0", "EXIT"])
    assert [len(r.instrs) for r in regs] == [1, 4, 3, 1]
    kloop, epilogue = regs[1], regs[2]
    assert kloop.samples() == 74 and kloop.stalls().most_common(1)[0] == ("barrier", 40)
    assert epilogue.instrs[0].sass.startswith("WARPGROUP.DEPBAR.LE gsb0, 0x0") and epilogue.instrs[-1].opcode == "EXIT"
    assert regs[3].samples() == 10


def test_report_shares_add_up_and_name_the_top_instruction():
    text = sh.report(sh.parse(CSV), ["WARPGROUP.ARRIVE", "DEPBAR.LE gsb0, 0x0", "EXIT"], per=2, top=2)
    assert "100 stall samples; executed counts are per 2" in text
    assert "| 'WARPGROUP.ARRIVE' .. 'DEPBAR.LE gsb0, 0x0' | 74.0% | 16.0 | barrier 54%, long_sb 41%, wait 5% |" in text
    assert "| 0x30 | 40.0% | barrier | `WARPGROUP.DEPBAR.LE gsb0, 0x1` |" in text


@pytest.mark.parametrize("bad, message", [
    ("a,b\n1,2\n", "not an ncu --page source --csv export"),
    ('"Address","Source","Instructions Executed"\n"0x0","NOP","1"\n', "Warp Stall Sampling"),
])
def test_foreign_csv_is_a_clear_error(bad, message):
    with pytest.raises(sh.SassError, match=message):
        sh.parse(bad)


def test_unmatched_split_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "s.csv"
    path.write_text(CSV)
    assert sh.main([str(path), "--split", "HMMA"]) == 2
    assert "split 'HMMA' matches no instruction" in capsys.readouterr().err
    assert sh.main([str(path), "--split", "EXIT"]) == 0


def test_gzipped_export_reads_the_same(tmp_path, capsys):
    import gzip
    plain, packed = tmp_path / "s.csv", tmp_path / "s.csv.gz"
    plain.write_text(CSV)
    packed.write_bytes(gzip.compress(CSV.encode()))
    assert sh.main([str(plain)]) == 0
    first = capsys.readouterr().out
    assert sh.main([str(packed)]) == 0 and capsys.readouterr().out == first
