#!/usr/bin/env python3
"""cluster_kmeans.py - thin wrapper; the logic is in auditoryhum.scripts.cluster_kmeans. Run with --help."""
import sys

from auditoryhum.scripts.cluster_kmeans import main

if __name__ == "__main__":
    sys.exit(main())
