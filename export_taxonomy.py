#!/usr/bin/env python3
"""export_taxonomy.py - thin wrapper; the logic is in auditoryhum.scripts.export_taxonomy. Run with --help."""
import sys

from auditoryhum.scripts.export_taxonomy import main

if __name__ == "__main__":
    sys.exit(main())
