#!/usr/bin/env python3
"""taxonomy_report.py - thin wrapper; the logic is in auditoryhum.scripts.taxonomy_report. Run with --help."""
import sys

from auditoryhum.scripts.taxonomy_report import main

if __name__ == "__main__":
    sys.exit(main())
