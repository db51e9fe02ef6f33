"""The ``pressluft`` command line: the same core services the console drives."""
