#!/usr/bin/env python3
"""util_score_boost.py - thin wrapper; the logic is in auditoryhum.scripts.util_score_boost. Run with --help."""
import sys

from auditoryhum.scripts.util_score_boost import main

if __name__ == "__main__":
    sys.exit(main())
