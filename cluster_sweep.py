#!/usr/bin/env python3
"""cluster_sweep.py - thin wrapper; the logic is in auditoryhum.scripts.cluster_sweep. Run with --help."""
import sys

from auditoryhum.scripts.cluster_sweep import main

if __name__ == "__main__":
    sys.exit(main())
