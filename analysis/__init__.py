"""btcbench's analysis side, one package (run its modules from the repo root):

    python3 -m analysis.rebuild_all --results-dir results   # every report under results/
    python3 -m analysis.report RESULTS.json [--out-dir DIR]  # one file's report

Layers; a module imports only modules of the layers above it (and never
inside a function: tests/analysis/test_imports.py checks both):
  btcresults                        the results model: load, validate, medians
  report_common                     markdown, header and figure pieces every report shares
  {instr,stride,layout,bmm}_report  one suite each; none knows the paper
  paper_tcbnn                       the TCBNN paper's findings beside a stride, layout or bmm file
  report                            the composer: a suite's report plus the paper's section
  rebuild_all                       every results file under a directory
sass_hotspots stands alone (ncu SASS exports); ncu_compare reads scripts/ncu_compare.sh's
folder (btcbench's counters beside ncu's; uses btcresults and report_common).
net_torch is a PyTorch forward of a model file (models/*.model) for bit-exact checks of the
C++ reference and the GPU runner; only its `forward` needs torch, which is not a dependency.
"""
