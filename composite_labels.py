#!/usr/bin/env python3
"""composite_labels.py - thin wrapper; the logic is in auditoryhum.scripts.composite_labels. Run with --help."""
import sys

from auditoryhum.scripts.composite_labels import main

if __name__ == "__main__":
    sys.exit(main())
