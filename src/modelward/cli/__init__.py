"""The ``modelward`` command: thin, one library call per command."""
