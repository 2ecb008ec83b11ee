#!/usr/bin/env python3
"""label_qwen3o.py - thin wrapper; the logic is in auditoryhum.scripts.label_qwen3o. Run with --help."""
import sys

from auditoryhum.scripts.label_qwen3o import main

if __name__ == "__main__":
    sys.exit(main())
