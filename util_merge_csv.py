#!/usr/bin/env python3
"""util_merge_csv.py - thin wrapper; the logic is in auditoryhum.scripts.util_merge_csv. Run with --help."""
import sys

from auditoryhum.scripts.util_merge_csv import main

if __name__ == "__main__":
    sys.exit(main())
