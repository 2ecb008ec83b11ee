"""Console entry points: one module per top-level script, each with ``get_parser()`` and
``main(argv=None)`` (returns the exit status), so tests can call them in-process."""
