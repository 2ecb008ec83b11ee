#!/usr/bin/env python3
"""train_scene_classifier.py - thin wrapper; the logic is in auditoryhum.scripts.train_scene_classifier. Run with --help."""
import sys

from auditoryhum.scripts.train_scene_classifier import main

if __name__ == "__main__":
    sys.exit(main())
