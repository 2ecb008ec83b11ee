#!/usr/bin/env python3
"""util_review_app.py - thin wrapper; the logic is in auditoryhum.scripts.util_review_app. Run with --help."""
import sys

from auditoryhum.scripts.util_review_app import main

if __name__ == "__main__":
    sys.exit(main())
