"""python -m flowrestore: the same as the flowrestore command."""

from flowrestore.cli import app

app(prog_name="flowrestore")
