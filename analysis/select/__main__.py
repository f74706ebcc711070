"""python3 -m analysis.select: see analysis/select/__init__.py."""
import sys

from analysis.select.cli import main

sys.exit(main())
