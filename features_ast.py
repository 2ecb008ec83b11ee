#!/usr/bin/env python3
"""features_ast.py - thin wrapper; the logic is in auditoryhum.scripts.features_ast. Run with --help."""
import sys

from auditoryhum.scripts.features_ast import main

if __name__ == "__main__":
    sys.exit(main())
