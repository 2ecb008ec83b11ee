"""AuditoryHuM: auditory scene label generation and clustering with Human-MLLM collaboration.

The package holds all logic; the top-level scripts (label_qwen2a.py, features_clap.py, ...) only
parse the upstream-compatible flags and call into it. See README.md.
"""

__version__ = "0.1.0"
