"""Write siedd_codec/graph_dictionary.bin from this siedd's graph builders and print its SHA-256.

Only for a new major format version: the dictionary is part of the format (graph_dictionary.py),
and files written against one dictionary do not decode against another."""
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from siedd_codec import graph_dictionary  # noqa: E402
from siedd_codec.fsutil import atomic_path  # noqa: E402

data = graph_dictionary.build()
with atomic_path(graph_dictionary.FILE) as tmp:
    Path(tmp).write_bytes(data)
print(f"{graph_dictionary.FILE}: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}")
