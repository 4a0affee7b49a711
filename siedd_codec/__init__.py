"""siedd: the SIEDD neural video codec. `SieddReader` decodes; `siedd_codec.encoder` encodes
(needs the `encode` extra: torch). Importing this package imports neither torch nor onnx."""
__version__ = "0.10.0"

from .errors import SieddError, SieddFormatError, SieddInputError  # noqa: E402


def __getattr__(name):
    if name == "SieddReader":
        from .reader import SieddReader
        return SieddReader
    raise AttributeError(name)


__all__ = ["SieddReader", "SieddError", "SieddFormatError", "SieddInputError", "__version__"]
