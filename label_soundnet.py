#!/usr/bin/env python3
"""label_soundnet.py - thin wrapper; the logic is in auditoryhum.scripts.label_soundnet. Run with --help."""
import sys

from auditoryhum.scripts.label_soundnet import main

if __name__ == "__main__":
    sys.exit(main())
