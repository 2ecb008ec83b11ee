#!/usr/bin/env python3
"""composite_label_stats.py - thin wrapper; the logic is in auditoryhum.scripts.composite_label_stats. Run with --help."""
import sys

from auditoryhum.scripts.composite_label_stats import main

if __name__ == "__main__":
    sys.exit(main())
