"""The grid family's global motion: what a group stores, in spec.MOTION_STEP units
(the estimate itself: siedd_codec/motion.py)."""
from __future__ import annotations

import numpy as np

from ..motion import global_shifts
from . import spec


def global_motion(frames: np.ndarray) -> np.ndarray:
    """What a group stores: global_shifts as integer codes of spec.MOTION_STEP (K, 2) int32;
    all 0 (the group reads its shared levels as without motion, and decodes as fast) unless
    the moves pay (MotionEstimate.pays)."""
    estimate = global_shifts(frames)
    if not estimate.pays():
        return np.zeros(estimate.shifts.shape, np.int32)
    return np.round(estimate.shifts / spec.MOTION_STEP).astype(np.int32)
