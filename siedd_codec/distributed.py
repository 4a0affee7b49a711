"""An encode spread over processes and machines with torch.distributed, started by torchrun.

    torchrun --nproc-per-node N --no-python siedd encode clip.mp4 -o clip.siedd ...
    torchrun --nproc-per-node N -m siedd_codec encode clip.mp4 -o clip.siedd ...

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous; siedd joins the process group
(gloo on CPU, NCCL on CUDA with one GPU per process: LOCAL_RANK), and:
- phase 1 (SIEDD's shared encoder) trains once, on rank 0; its codes are broadcast;
- the groups are dealt out by chain (a key group and the groups predicted from it, which must
  train in order; a grid group is a chain of one): chain c trains on rank c mod WORLD_SIZE, from
  its own seeds, so a group trains the same whichever rank trains it and the file does not
  depend on the number of processes;
- every rank saves its finished groups in OUTPUT.partial/ (the resume state) as it goes, and
  rank 0 gathers all coded groups and writes the one file.
What moves between ranks are numpy arrays packed as .npz bytes (read without pickle), through
the process group's broadcast and all_gather of uint8 tensors.

A rank that dies makes torchrun stop the others; a collective that waits longer than TIMEOUT
for a peer fails with an error instead of hanging forever. Rate control (--bpp, --bytes) steers
each group by the bits the groups before it spent, one after another: with more than one
process it is refused (use --quality)."""
from __future__ import annotations

import io
import os
import zipfile
import zlib
from datetime import timedelta

import numpy as np

from .errors import SieddError, SieddInputError

# the longest a rank waits for the others at a collective: rank 0's phase 1, or the slowest
# rank's last groups at the end (torchrun stops every rank as soon as one dies)
TIMEOUT = timedelta(hours=6)


class Job:
    """This process's place in a torchrun job. Single-process encodes have no Job (None)."""

    def __init__(self, rank: int, world: int, local_rank: int):
        self.rank, self.world, self.local_rank = rank, world, local_rank
        self.group = None

    @classmethod
    def from_env(cls) -> "Job | None":
        """The job torchrun started this process in, joined; None outside torchrun or with one
        process."""
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        except ValueError:
            raise SieddInputError("RANK, WORLD_SIZE and LOCAL_RANK must be integers "
                                  "(torchrun sets them)") from None
        if world <= 1:
            return None
        if not 0 <= rank < world:
            raise SieddInputError(f"RANK {rank} is outside WORLD_SIZE {world}")
        return cls(rank, world, local_rank)

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        """The device this rank trains on: with CUDA, its own GPU (LOCAL_RANK)."""
        import torch
        if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
            return "cpu"
        if not torch.cuda.is_available():
            raise SieddError("device cuda asked for, but torch sees no CUDA device")
        if self.local_rank >= torch.cuda.device_count():
            raise SieddError(f"LOCAL_RANK {self.local_rank} but this machine has "
                             f"{torch.cuda.device_count()} GPUs: one process per GPU")
        return f"cuda:{self.local_rank}"

    def start(self, device: str) -> None:
        import torch
        import torch.distributed as dist
        self.cuda = device.startswith("cuda")
        if self.cuda:
            torch.cuda.set_device(int(device.split(":")[1]))
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.cuda else "gloo", timeout=TIMEOUT)
        self.dist = dist

    def close(self) -> None:
        if getattr(self, "dist", None) is not None and self.dist.is_initialized():
            self.dist.destroy_process_group()

    def owns(self, chain: int) -> bool:
        return chain % self.world == self.rank

    # -- moving arrays -----------------------------------------------------------------------
    def _tensor(self, data: bytes):
        import torch
        t = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else \
            torch.zeros(0, dtype=torch.uint8)
        return t.cuda() if self.cuda else t

    def broadcast(self, arrays: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Rank 0's arrays on every rank."""
        import torch
        data = pack(arrays) if self.leader else b""
        size = self._tensor(np.int64(len(data)).tobytes()).view(torch.int64).clone()
        self.dist.broadcast(size, 0)
        buf = self._tensor(data) if self.leader else \
            self._tensor(bytes(int(size.item())))
        self.dist.broadcast(buf, 0)
        return arrays if self.leader else unpack(bytes(buf.cpu().numpy()))

    def gather(self, arrays: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Every rank's arrays, in rank order (on every rank: all_gather, which gloo and NCCL
        both have)."""
        import torch
        data = pack(arrays)
        size = self._tensor(np.int64(len(data)).tobytes()).view(torch.int64).clone()
        sizes = [torch.zeros_like(size) for _ in range(self.world)]
        self.dist.all_gather(sizes, size)
        longest = max(int(s.item()) for s in sizes)
        buf = self._tensor(data + bytes(longest - len(data)))
        bufs = [torch.zeros_like(buf) for _ in range(self.world)]
        self.dist.all_gather(bufs, buf)
        return [unpack(bytes(b.cpu().numpy()[:int(s.item())])) for b, s in zip(bufs, sizes)]

    def barrier(self) -> None:
        self.dist.barrier()


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def unpack(data: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise SieddError(f"a rank sent unreadable data ({exc})") from None


def codes_arrays(prefix: str, codes) -> dict[str, np.ndarray]:
    """Codes (name -> (integer codes, step)) as arrays under a prefix."""
    out = {}
    for name, (c, step) in codes.items():
        out[f"{prefix}{name}"] = c
        out[f"{prefix}{name}@step"] = np.float64(step)
    return out


def arrays_codes(prefix: str, arrays: dict[str, np.ndarray]):
    """The inverse of codes_arrays for one prefix."""
    return {k[len(prefix):]: (v, float(arrays[k + "@step"])) for k, v in arrays.items()
            if k.startswith(prefix) and not k.endswith("@step")}
