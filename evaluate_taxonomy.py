#!/usr/bin/env python3
"""evaluate_taxonomy.py - thin wrapper; the logic is in auditoryhum.scripts.evaluate_taxonomy. Run with --help."""
import sys

from auditoryhum.scripts.evaluate_taxonomy import main

if __name__ == "__main__":
    sys.exit(main())
