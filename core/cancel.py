"""One exception for "the caller asked to stop", shared by every long-running stage."""


class Cancelled(Exception):
    """The caller set the cancel event; raised between steps or chunks, so little work is wasted."""
