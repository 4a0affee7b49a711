"""ONNX Runtime sessions: the CUDA provider where it really works, the CPU one otherwise,
without the error spam onnxruntime-gpu prints when asked for CUDA on a machine without it."""
from __future__ import annotations

import ctypes
import functools
import os

import onnxruntime as ort

from .errors import SieddError

DEVICES = ("auto", "cpu", "cuda")


@functools.lru_cache(maxsize=1)
def cuda_driver_present() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
        return True
    except OSError:
        return False


def _options(threads: int) -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads > 0:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


def make_session(model_bytes: bytes, device: str = "auto", threads: int = 0
                 ) -> ort.InferenceSession:
    if device not in DEVICES:
        raise SieddError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    want_cuda = device in ("auto", "cuda") and cuda_driver_present() \
        and "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not want_cuda:
        raise SieddError("device cuda asked for, but no CUDA driver or CUDA-enabled onnxruntime here")
    if want_cuda:
        ort.set_default_logger_severity(4)      # a failed CUDA load is not an error for "auto"
        try:
            session = ort.InferenceSession(model_bytes, sess_options=_options(threads),
                                           providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        finally:
            ort.set_default_logger_severity(2)
        if "CUDAExecutionProvider" in session.get_providers():
            return session
        if device == "cuda":
            raise SieddError("device cuda asked for, but onnxruntime could not start its CUDA provider "
                             "(CUDA or cuDNN libraries missing?)")
    return ort.InferenceSession(model_bytes, sess_options=_options(threads),
                                providers=["CPUExecutionProvider"])


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container or taskset limits it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def session_device(session: ort.InferenceSession) -> str:
    return "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
