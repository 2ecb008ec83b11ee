#!/usr/bin/env python3
"""features_gemma3n.py - thin wrapper; the logic is in auditoryhum.scripts.features_gemma3n. Run with --help."""
import sys

from auditoryhum.scripts.features_gemma3n import main

if __name__ == "__main__":
    sys.exit(main())
