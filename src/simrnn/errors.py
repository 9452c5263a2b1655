"""User-facing errors.

Every problem caused by the user's input (a file, a key, a value) is raised as
:class:`UserInputError` with ONE readable sentence naming the file/key/value and what was
expected. The command line prints that sentence and exits with status 2, without a traceback.
"""


class UserInputError(Exception):
    """Bad input from the user: one sentence saying which file/key/value and what was expected."""


class TrainingDivergedError(UserInputError):
    """The loss became NaN or infinite; the run directory is kept for inspection."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) caught by a command that can say what it kept, e.g. a resumable partial file.

    The CLI prints ``interrupted; <message>`` and exits with status 130.
    """
