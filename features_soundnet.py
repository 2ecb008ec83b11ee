#!/usr/bin/env python3
"""features_soundnet.py - thin wrapper; the logic is in auditoryhum.scripts.features_soundnet. Run with --help."""
import sys

from auditoryhum.scripts.features_soundnet import main

if __name__ == "__main__":
    sys.exit(main())
