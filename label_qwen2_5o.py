#!/usr/bin/env python3
"""label_qwen2_5o.py - thin wrapper; the logic is in auditoryhum.scripts.label_qwen2_5o. Run with --help."""
import sys

from auditoryhum.scripts.label_qwen2_5o import main

if __name__ == "__main__":
    sys.exit(main())
