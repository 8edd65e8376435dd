"""Error and warning types shared by every stage.

A `PetsegError` is a *user* error: bad input, missing files, wrong units. The CLI prints its
message as one line and exits with status 2. Anything else escaping a command is a bug (exit 1).
"""


class PetsegError(Exception):
    """A problem with the user's input that the user can fix; the message says how."""


class PetsegWarning(UserWarning):
    """Something suspicious in the input that petseg repaired or tolerated."""
