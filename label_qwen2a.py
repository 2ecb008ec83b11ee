#!/usr/bin/env python3
"""label_qwen2a.py - thin wrapper; the logic is in auditoryhum.scripts.label_qwen2a. Run with --help."""
import sys

from auditoryhum.scripts.label_qwen2a import main

if __name__ == "__main__":
    sys.exit(main())
