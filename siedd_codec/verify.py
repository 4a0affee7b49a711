"""`siedd verify`: the whole check of a .siedd file, now rather than when a group is decoded.

Reading the file checks its header, table and every section's checksum (a group whose checksum
does not match is listed, not fatal); then every readable group's weights are decoded and the
group rendered at 8x8 through SieddReader, which finds what the checksums cannot: a file
rewritten with valid checksums, or a writer's bug. Damage that still decodes (entropy-coded
bytes decode to some weights) only the checksums catch."""
from __future__ import annotations

from . import container
from .errors import SieddError

CHECK_SIZE = (8, 8)
INTACT, DAMAGED, MISSING, UNCHECKED = "intact", "damaged", "missing", "unchecked"


def verify(path, device: str = "cpu") -> dict:
    """{"file", "intact", "error", "frame_count", "decodable_frames", "file_bytes",
    "declared_bytes", "groups": [{"group", "first_frame", "frame_count", "status", "reason"}]}.
    status: intact, damaged, missing (the file is cut short) or unchecked (after a damaged
    group, where reading stops; or the file's shared parts do not decode: see "error").
    Raises SieddError when the file cannot be read at all."""
    from .reader import SieddReader
    sf = container.read(path, allow_damaged=True)
    readable = len(sf.group_weights)
    groups = []
    for g, ((first, count), status) in enumerate(zip(sf.groups, sf.group_status)):
        if status == container.GROUP_DAMAGED:
            status, reason = DAMAGED, "checksum mismatch"
        elif status == container.GROUP_MISSING:
            status, reason = MISSING, (f"the file is cut short ({sf.present_bytes} of "
                                       f"{sf.file_bytes} bytes)")
        else:
            status, reason = UNCHECKED, (None if g < readable else
                                         f"after damaged group {readable}, where reading stops")
        groups.append({"group": g, "first_frame": first, "frame_count": count,
                       "status": status, "reason": reason})
    report = {"file": str(path), "frame_count": sf.frame_count, "file_bytes": sf.present_bytes,
              "declared_bytes": sf.file_bytes, "groups": groups, "error": None}
    del sf                                  # the reader reads the file again
    if readable:
        try:
            reader = SieddReader(path, size=CHECK_SIZE, device=device, allow_damaged=True)
        except SieddError as exc:
            report["error"] = _reason(exc, path)
            for entry in groups[:readable]:
                entry["reason"] = "the file's shared parts do not decode"
        else:
            with reader:
                for entry in groups[:readable]:
                    try:
                        reader.render_group(entry["group"], *CHECK_SIZE)
                        entry["status"] = INTACT
                    except MemoryError:
                        raise
                    except Exception as exc:    # whatever decoding raises is damage to report
                        entry["status"], entry["reason"] = DAMAGED, _reason(exc, path)
    report["decodable_frames"] = sum(e["frame_count"] for e in groups if e["status"] == INTACT)
    report["intact"] = report["error"] is None and all(e["status"] == INTACT for e in groups)
    return report


def _reason(exc: Exception, path) -> str:
    """The first line of an error, without the file's name (the report names it), cut short."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    prefix = f"{path}: "
    return (text[len(prefix):] if text.startswith(prefix) else text)[:200]
