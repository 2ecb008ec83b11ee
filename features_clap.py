#!/usr/bin/env python3
"""features_clap.py - thin wrapper; the logic is in auditoryhum.scripts.features_clap. Run with --help."""
import sys

from auditoryhum.scripts.features_clap import main

if __name__ == "__main__":
    sys.exit(main())
