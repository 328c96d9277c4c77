"""`python -m rpmyard.cli` runs the `rpmyard` command."""

from rpmyard.cli.main import app

app()
