#!/usr/bin/env python3
"""features_clap_text.py - thin wrapper; the logic is in auditoryhum.scripts.features_clap_text. Run with --help."""
import sys

from auditoryhum.scripts.features_clap_text import main

if __name__ == "__main__":
    sys.exit(main())
