#!/usr/bin/env python3
"""features_qwen2a.py - thin wrapper; the logic is in auditoryhum.scripts.features_qwen2a. Run with --help."""
import sys

from auditoryhum.scripts.features_qwen2a import main

if __name__ == "__main__":
    sys.exit(main())
