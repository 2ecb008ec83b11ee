#!/usr/bin/env python3
"""label_google_gen_ai_cloud.py - thin wrapper; the logic is in auditoryhum.scripts.label_google_gen_ai_cloud. Run with --help."""
import sys

from auditoryhum.scripts.label_google_gen_ai_cloud import main

if __name__ == "__main__":
    sys.exit(main())
