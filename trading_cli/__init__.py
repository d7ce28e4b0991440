"""The ``trading`` command: the developer's workbench for the trading backend."""
