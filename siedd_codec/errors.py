"""Exceptions. Everything the CLI reports as one clear line derives from SieddError."""


class SieddError(Exception):
    """Base class of every error siedd raises on purpose."""


class SieddFormatError(SieddError, ValueError):
    """A .siedd file is damaged, truncated past its essentials, or not a .siedd file."""


class SieddInputError(SieddError, ValueError):
    """An input video, option or argument is unusable."""


class SieddStateError(SieddError):
    """An encode's saved state (OUT.siedd.partial/) is in the way, foreign or damaged; it is
    kept, and the message says what to do."""


def shown(value, limit: int = 40) -> str:
    """A value read from a file, for an error message: repr'd, so no control character or
    terminal escape reaches the screen, and cut to `limit` characters."""
    if isinstance(value, str):
        return repr(value[:limit]) + ("..." if len(value) > limit else "")
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
