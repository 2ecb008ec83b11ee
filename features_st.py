#!/usr/bin/env python3
"""features_st.py - thin wrapper; the logic is in auditoryhum.scripts.features_st. Run with --help."""
import sys

from auditoryhum.scripts.features_st import main

if __name__ == "__main__":
    sys.exit(main())
