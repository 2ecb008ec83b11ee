#!/usr/bin/env python3
"""util_agreement.py - thin wrapper; the logic is in auditoryhum.scripts.util_agreement. Run with --help."""
import sys

from auditoryhum.scripts.util_agreement import main

if __name__ == "__main__":
    sys.exit(main())
