"""User-facing errors.

Every problem caused by the user's input (a file, a key, a value) is raised as
:class:`UserInputError` with ONE readable sentence naming the file/key/value and what was
expected. The library's sentences name settings by their KEY (``max_axial_strain``) and pass that
key as ``key=``; the command line prints the sentence with the key rendered as its option
(``--max-axial-strain``) and exits with status 2, without a traceback.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input from the user: one sentence saying which file/key/value and what was expected.

    Args:
        message: the sentence.
        key: the setting the sentence is about (a config key such as ``max_axial_strain``), when
            there is one, or a tuple of the settings it names (``("walkers", "max_steps")``); front ends
            translate each (the CLI into ``--max-axial-strain``).
    """

    def __init__(self, message: str, *, key: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.keys: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key or ())
        self.key = self.keys[0] if self.keys else None


class TrainingDivergedError(UserInputError):
    """The loss became NaN or infinite; the run directory is kept for inspection."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) caught by a command that can say what it kept, e.g. a resumable partial file.

    The CLI prints ``interrupted; <message>`` (each setting's ``key`` written as its flag, as for
    :class:`UserInputError`) and exits with status 130.
    """

    def __init__(self, message: str = "", *, key: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.keys: tuple[str, ...] = (key,) if isinstance(key, str) else tuple(key or ())
        self.key = self.keys[0] if self.keys else None
