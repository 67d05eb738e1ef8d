"""`python -m vigie`: the same command as `vigie`."""
from vigie.cli import app

app()
