#!/usr/bin/env python3
"""features_mfcc.py - thin wrapper; the logic is in auditoryhum.scripts.features_mfcc. Run with --help."""
import sys

from auditoryhum.scripts.features_mfcc import main

if __name__ == "__main__":
    sys.exit(main())
