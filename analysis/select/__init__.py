"""Select the BMM kernel configuration of each architecture from sweep results.

Reads the btcbench results files of one GPU (suites instr, stride, layout and
bmm; docs/results-schema.md), ranks the candidate instruction forms, operand
layouts and measured kernel configurations of each BMM design, and writes the
configuration the kernels are built from (kernels/config/bmm_config.h, struct
BmmConfig):

  kernels/generated/bmm_config_sm{75,80,90}.h   three BmmConfig constants per arch
                                                (kBtcWmma, kMmaAnd, kWgmmaAnd) + kSource
  kernels/generated/bmm_config_sm{75,80,90}.md  why each value won, with the figures
  kernels/generated/bmm_candidates_sm90.h       kWgmmaAndCandidates: what a candidates build measures
  kernels/generated/bmm_config.h                includes them all

Usage (from the repo root):
  python3 -m analysis.select --results-dir results/<gpu-slug>   # see "which files" below
  python3 -m analysis.select --results instr-...json layout-...json bmm-...json
  python3 -m analysis.select --defaults            # all three arches, built-in defaults
  ... [--arch 90] [--out kernels/generated] [--check]

The arch is the device's compute capability (btcbench.device.cc) mapped to
the nearest arch the kernels are built for (7.5 -> 75, 8.x -> 80, 9.x -> 90);
every file must agree, and --arch, when given, must match. A GPU the suites
do not know by name is used for its arch. A file that is not valid JSON, not
a btcbench results file (e.g. plain Google Benchmark output) or of another
schema is a one-line error naming the file (exit 2), and nothing is written.
Only the given arch's files (and bmm_config.h, bmm_candidates_sm90.h) are
regenerated; another arch's header that does not exist yet gets the built-in
defaults.

--check writes nothing and exits 1 if regenerating would change a file
(for CI). Files are written atomically, and only when their content changes;
the output holds no timestamps other than the results files' own, so
regenerating from the same files gives the same bytes.

Which files: instr, stride and layout: the newest of each by
btcbench.created_utc. bmm: the newest that has measured wgmma_and candidate
designs of the arch (forms[name].candidate true, status measured, arch).

Results are read through their structured fields, never by parsing names:
an instr form's forms[name].m/n/k, a_source, group, dtype and PTX
instruction; a bmm design's forms[name].config (a BmmConfig).

Selection rules (the report says which value is measured and which is a
default the suites do not measure yet):
  kBtcWmma  the paper's design, WMMA 8x8x128 XOR (fixed: the faithful
            reproduction); layout = the faster of row_u32 and tile8x128 in
            layout/wmma_xor (A and B alike), which also names the paper
            design it builds (btc_wmma_row / btc_wmma_tile); a 64 x 128
            block of 32 x 32 warp tiles (8 warps), 256 K bits per unrolled
            main-loop step, 1 stage (fragments load straight from global
            memory, as in the paper) (defaults).
  kMmaAnd   mma.sync b1 AND: the instr suite ranks those forms by TOPS (the
            kernel implements m16n8k256 only: another winner is reported,
            not used); layout = the fastest of layout/mma_and (the fragment-
            native pair is A mma_frag_a16x256 + B mma_frag_b8x256); sm_90:
            256 x 128 block, 1024-bit K, 4 stages, 8 warps; sm_80: 128 x 128,
            512-bit K (defaults).
  kWgmmaAnd wgmma b1 AND. With measured bmm candidates: among the
            candidate wgmma_and designs of the newest bmm file that has any,
            the best geometric mean of median TOPS over the square problems
            M = N = K >= 8192 in the file, both outputs (int32 and bits);
            every candidate must have every such point (else an error);
            candidates within 2% of the best go to the fewest shared-memory
            bytes, then to no multicast. The winner's config is kWgmmaAnd,
            every field. Without them ("default: no measured bmm
            candidates"): N = the best-TOPS wgmma form's N, preferring larger
            N (then A from shared memory, ss) among forms within 2% of the
            best, capped at 256; layout = the fastest of layout/wgmma_and
            among layouts whose box fits the K stage, except that when all
            are within 2% of each other the widest such swizzle is preferred
            (a tie-break: one contiguous run per operand per stage); block_m
            128, a ring of 8 x 512-bit K stages, 8 consumer warps, no cluster
            (defaults).

The candidates (analysis/select/candidates.py) are data here: emitted as
bmm_candidates_sm90.h, built by a -DBTC_BMM_CANDIDATES=ON tree, swept by
`btcbench sweep bmm`, ranked here.
"""
