"""The ``pingan`` command: one module per subcommand group, registered explicitly in main.py."""
