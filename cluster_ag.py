#!/usr/bin/env python3
"""cluster_ag.py - thin wrapper; the logic is in auditoryhum.scripts.cluster_ag. Run with --help."""
import sys

from auditoryhum.scripts.cluster_ag import main

if __name__ == "__main__":
    sys.exit(main())
