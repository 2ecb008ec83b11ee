#!/usr/bin/env python3
"""cluster_hdbscan.py - thin wrapper; the logic is in auditoryhum.scripts.cluster_hdbscan. Run with --help."""
import sys

from auditoryhum.scripts.cluster_hdbscan import main

if __name__ == "__main__":
    sys.exit(main())
