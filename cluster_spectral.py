#!/usr/bin/env python3
"""cluster_spectral.py - thin wrapper; the logic is in auditoryhum.scripts.cluster_spectral. Run with --help."""
import sys

from auditoryhum.scripts.cluster_spectral import main

if __name__ == "__main__":
    sys.exit(main())
