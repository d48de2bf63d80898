"""``python -m nanobragg_rs``: the nanobragg command."""

from .cli import entry

entry()
