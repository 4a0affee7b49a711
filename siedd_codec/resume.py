"""What survives a killed encode: its finished work (SIEDD's phase 1, every finished group), in
OUT.siedd.partial/ beside the output, removed once the file is written.

Saved work is never discarded unless the user asks (--restart): state found without --resume,
state of another encode and damaged state are all refused with one SieddStateError line that
says what is there and what to do. The files are .npz read with allow_pickle=False, and every
array is checked against the shape and type training expects before it is used, so a damaged or
foreign file is an error message, never a traceback and never code run."""
from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import SieddStateError
from .fsutil import atomic_path, atomic_write_bytes

# what the state files hold; bumped when that changes, so older state reads as another encode's
STATE_FORMAT = 3
FINGERPRINT = "state.json"
# the fingerprint's fields in the user's words
FIELD_NAMES = {"input": "input file", "mtime": "input file's time", "size_bytes": "input size",
               "start": "--start", "frames": "frame count", "shape": "size",
               "preset": "preset or its settings", "seed": "--seed",
               "target_bytes": "--bpp/--bytes", "state_format": "siedd version"}
RESTART = "discard it with --restart"

Codes = dict[str, tuple[np.ndarray, float]]     # name -> (integer codes, step)


class ResumeState:
    def __init__(self, folder: str | Path, fingerprint: dict, resume: bool = False,
                 restart: bool = False, groups: int | None = None):
        """fingerprint: what makes the saved work this encode's (input, settings, seed);
        groups: how many groups the encode has (for the messages)."""
        self.folder = Path(folder)
        self.fingerprint = {**fingerprint, "state_format": STATE_FORMAT}
        self.groups = groups
        if self.folder.exists() and not self.folder.is_dir():
            raise SieddStateError(f"{self.folder}: is not a folder, and siedd keeps the encode's "
                                  "saved state there; move it away")
        # resuming: there is work here, and it is this encode's
        self.resuming = False
        if restart:
            self.clear()
        elif self._work():
            self._check(resume)
            self.resuming = True
        if not self.resuming:
            self.clear()        # nothing worth keeping: at most a fingerprint and temporaries
            self.folder.mkdir(exist_ok=True)
            atomic_write_bytes(self.folder / FINGERPRINT,
                               json.dumps(self.fingerprint, sort_keys=True).encode())

    @classmethod
    def attach(cls, folder: str | Path, fingerprint: dict, groups: int | None = None
               ) -> "ResumeState":
        """Another process's view of the state rank 0 of a torchrun encode opened (checked,
        kept or cleared): it saves its own groups there and reads what is saved, and never
        clears. A folder that is not shared (another machine) is made here."""
        self = cls.__new__(cls)
        self.folder = Path(folder)
        self.fingerprint = {**fingerprint, "state_format": STATE_FORMAT}
        self.groups = groups
        self.folder.mkdir(exist_ok=True)
        self.resuming = bool(self._work())
        return self

    # -- what is there ---------------------------------------------------------------------------
    def _work(self) -> list[Path]:
        """The saved results (temporaries of a write cut short are not work)."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.npz") if not p.name.startswith("."))

    def describe(self, of_this: bool = True) -> str:
        """The saved work in words: 'phase 1 and 2 of 5 groups' (of_this: the work is this
        encode's, so out of this encode's groups)."""
        names = [p.stem for p in self._work()]
        groups = sum(1 for n in names if "group_" in n)
        total = self.groups if of_this else None
        of = f" of {total}" if total is not None else ""
        parts = (["phase 1"] if "phase1" in names else []) + \
            ([f"{groups}{of} group{'s' if (total or groups) != 1 else ''}"] if groups else [])
        return " and ".join(parts) or "nothing"

    def _check(self, resume: bool) -> None:
        """Refuse saved work unless it is this encode's and --resume asks for it."""
        path = self.folder / FINGERPRINT
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:      # UnicodeDecodeError, JSONDecodeError: ValueError
            reason = "missing" if isinstance(exc, FileNotFoundError) else "unreadable"
            raise SieddStateError(
                f"{self.folder} holds saved work ({self.describe(False)}) but its {FINGERPRINT} is "
                f"{reason}, so it cannot be matched to this encode; {RESTART}") from None
        differ = sorted({k for k in {*saved, *self.fingerprint}
                         if saved.get(k) != self.fingerprint.get(k)})
        if differ:
            what = ", ".join(dict.fromkeys(FIELD_NAMES.get(k, k) for k in differ))
            raise SieddStateError(
                f"{self.folder} holds saved work ({self.describe(False)}) of a different input or "
                f"settings ({what} differ{'s' if len(differ) == 1 else ''}); it cannot be resumed "
                f"here: {RESTART}, or write to another output")
        if not resume:
            raise SieddStateError(
                f"{self.folder} holds saved work of this encode ({self.describe()}); continue it "
                f"with --resume, or {RESTART}")

    # -- reading and writing ---------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.npz"

    def _damaged(self, path: Path, reason: str) -> SieddStateError:
        # each file is one finished part, redone exactly if it is missing (training.py)
        return SieddStateError(f"{path}: saved state is damaged ({reason}); delete that file to "
                               "redo only its part, or discard all saved work with --restart")

    def save(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        with atomic_path(self._path(name)) as tmp:      # a kill leaves the old file or the new
            with open(tmp, "wb") as fh:
                np.savez(fh, **arrays)

    def save_codes(self, name: str, codes: Codes, **extra: np.ndarray) -> None:
        arrays = {k: c for k, (c, _) in codes.items()}
        arrays.update({f"{k}@step": np.float32(step) for k, (_, step) in codes.items()})
        self.save(name, {**arrays, **extra})

    def load_codes(self, name: str, shapes: dict[str, tuple[int, ...]],
                   extras: dict[str, tuple[int, ...]] | None = None
                   ) -> tuple[Codes, dict[str, np.ndarray]] | None:
        """-> (codes, the extra float arrays saved with them), None if nothing was saved.
        shapes: each tensor's expected shape (int32 codes and a float32 step each); extras: the
        expected float arrays and their shapes. Anything else is damage."""
        path = self._path(name)
        if not path.is_file():
            return None
        extras = extras or {}
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
            # (numpy's own text for some of these advises loading with pickle: not repeated)
            raise self._damaged(path, "not a readable .npz file, perhaps cut short") from None
        want = {**shapes, **{f"{k}@step": () for k in shapes}, **extras}
        if set(arrays) != set(want):
            odd = sorted(set(arrays) ^ set(want))
            raise self._damaged(path, "arrays missing or unexpected: " + ", ".join(odd[:4]))
        for k, shape in want.items():
            a = arrays[k]
            kind = "int32" if k in shapes else "float32" if k.endswith("@step") else "float"
            ok_type = a.dtype == np.int32 if kind == "int32" else \
                a.dtype == np.float32 if kind == "float32" else \
                np.issubdtype(a.dtype, np.floating) and bool(np.isfinite(a).all())
            if a.shape != tuple(shape) or not ok_type:
                raise self._damaged(path, f"{k} is {a.dtype} {a.shape}, expected {kind} "
                                          f"{tuple(shape)}")
            if k.endswith("@step") and not (np.isfinite(a) and a > 0):
                raise self._damaged(path, f"{k} is {a}, not a positive step")
        codes = {k: (arrays[k], float(arrays[f"{k}@step"])) for k in shapes}
        return codes, {k: arrays[k] for k in extras}

    def clear(self) -> None:
        """Remove what this class writes (and the folder, if that leaves it empty); anything
        else someone put there stays."""
        if not self.folder.is_dir():
            return
        for p in self.folder.iterdir():
            ours = p.name == FINGERPRINT or p.name.endswith(".npz") or \
                p.name.startswith(f".{FINGERPRINT}.")      # atomic_write_bytes's temporary
            if ours and p.is_file():
                p.unlink()
        if not any(self.folder.iterdir()):
            self.folder.rmdir()
