"""User-facing errors.

Every problem caused by the user's input (a file, a key, a value) is raised as
:class:`UserInputError` with ONE readable sentence naming the file/key/value and what was
expected. The command line prints that sentence and exits with status 2, without a traceback.
"""


class UserInputError(Exception):
    """Bad input from the user: one sentence saying which file/key/value and what was expected."""


class TrainingDivergedError(UserInputError):
    """The loss became NaN or infinite; the run directory is kept for inspection."""
