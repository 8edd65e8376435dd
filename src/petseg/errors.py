"""Error and warning types shared by every stage.

A `PetsegError` is a *user* error: bad input, missing files, wrong units. The CLI prints its
message as one line and exits with status 2. Anything else escaping a command is a bug (exit 1).
"""


class PetsegError(Exception):
    """A problem with the user's input that the user can fix; the message says how."""


class PetsegWarning(UserWarning):
    """Something suspicious in the input that petseg repaired or tolerated (a note for the reader)."""


class ImportantWarning(PetsegWarning):
    """Something that may change which lesions are found or their numbers (the values are not SUV, the field of
    view cuts the body where lesions or organs may lie, implausible SUV tags): reports list these first."""
