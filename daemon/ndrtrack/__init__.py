"""ndrtrack: answers "my email went missing — what happened to it?" with evidence."""

__version__ = "0.1.0"
