"""The ``electra`` command line: one module per command group, all registered by :mod:`electra.cli.main`."""
