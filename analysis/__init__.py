"""btcbench's analysis side, one package (run its modules from the repo root):

    python3 -m analysis.rebuild_all --results-dir results   # every report under results/
"""
