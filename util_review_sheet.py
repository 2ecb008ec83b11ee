#!/usr/bin/env python3
"""util_review_sheet.py - thin wrapper; the logic is in auditoryhum.scripts.util_review_sheet. Run with --help."""
import sys

from auditoryhum.scripts.util_review_sheet import main

if __name__ == "__main__":
    sys.exit(main())
