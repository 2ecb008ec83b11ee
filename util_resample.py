#!/usr/bin/env python3
"""util_resample.py - thin wrapper; the logic is in auditoryhum.scripts.util_resample. Run with --help."""
import sys

from auditoryhum.scripts.util_resample import main

if __name__ == "__main__":
    sys.exit(main())
