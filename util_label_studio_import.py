#!/usr/bin/env python3
"""util_label_studio_import.py - thin wrapper; the logic is in auditoryhum.scripts.util_label_studio_import. Run with --help."""
import sys

from auditoryhum.scripts.util_label_studio_import import main

if __name__ == "__main__":
    sys.exit(main())
