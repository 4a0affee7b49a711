"""Deterministic synthetic .siedd files (no training): fixed seeded codes through the real
writer. Used by the golden tests; regenerate the pinned values only for a deliberate format
change. tests/data/golden_v1.siedd is the same file as format 1.0 wrote it (kept to prove that
old files still decode)."""
from pathlib import Path

import numpy as np

from siedd_codec import container
from siedd_codec.model_spec import DECODER_LAYERS, ENCODER_LAYERS, OMEGA, PE_OCTAVES
from siedd_codec.model_spec import encoder_shapes, group_shapes
from siedd_codec.weights import encode_encoder, encode_group

DATA = Path(__file__).resolve().parent / "data"
HIDDEN, FRAMES, GROUP = 8, 5, 2
RANGES = [(0, 2), (2, 2), (4, 1)]
PREDICTED = [False, True, False]          # group 1 is coded against group 0


def _codes(rng, shapes, spread):
    return {k: (np.round(rng.laplace(0, spread, s)).astype(np.int32), float(np.float32(0.01)))
            for k, s in shapes.items()}


def synthetic_file() -> container.SieddFile:
    from siedd_export.graphs import decoder_graph, encoder_graph
    rng = np.random.default_rng(1234)
    enc = _codes(rng, encoder_shapes(HIDDEN), 20)
    groups = []
    for (_, count), predicted in zip(RANGES, PREDICTED):
        codes = _codes(rng, group_shapes(HIDDEN, count), 1.5 if predicted else 6)
        groups.append(encode_group(codes, HIDDEN, count, int(predicted)))
    norm = np.stack([np.linspace(0.3, 0.5, FRAMES), np.linspace(0.2, 0.25, FRAMES)], 1)
    meta = {"video": {"width": 6, "height": 4, "frame_count": FRAMES, "fps": [25, 1],
                      "color": {"matrix": "itu601", "range": "MPEG"}, "source": "synthetic"},
            "model": {"preset": "test", "hidden": HIDDEN, "group_size": GROUP,
                      "pe_octaves": PE_OCTAVES, "omega": OMEGA, "encoder_layers": ENCODER_LAYERS,
                      "decoder_layers": DECODER_LAYERS},
            "quant": {"steps": "per tensor"}, "encoder": {"software": "golden"}}
    return container.SieddFile(meta=meta, norm=norm.astype(np.float32),
                               encoder_graph=encoder_graph(HIDDEN),
                               decoder_graph=decoder_graph(HIDDEN),
                               encoder_weights=encode_encoder(enc, HIDDEN),
                               groups=RANGES, group_weights=groups)


GRID_LEVELS = [(1, 1), (2, 1), (2, 0), (4, 0)]
GRID_SYNTHESIS = [8]


def synthetic_grid_file() -> container.SieddFile:
    """A latent-grid file (family "grid") of the same kind: 16x12, 5 frames in groups of 2."""
    from siedd_codec.grid import family, spec
    from siedd_codec.tensor_codec import compress
    rng = np.random.default_rng(4321)
    meta = {"video": {"width": 16, "height": 12, "frame_count": FRAMES, "fps": [25, 1],
                      "color": {}, "source": "synthetic"},
            "model": {"family": "grid", "preset": "test", "group_size": GROUP,
                      "levels": [list(v) for v in GRID_LEVELS], "synthesis": GRID_SYNTHESIS},
            "quant": {"rate_lambda": 0.02}, "encoder": {"software": "golden"}}
    payloads = []
    for _, count in RANGES:
        shapes = spec.group_shapes(GRID_LEVELS, GRID_SYNTHESIS, 16, 12, count)
        codes = {}
        for name, shape in shapes.items():
            if name.startswith("lat"):
                codes[name] = (np.round(rng.laplace(0, 2, shape)).astype(np.int32), 1.0)
            else:
                codes[name] = (np.round(rng.laplace(0, 20, shape)).astype(np.int32),
                               float(np.float32(0.02)))
        payloads.append(compress(codes))
    shared, frames = family.graphs(meta)[0]
    return container.SieddFile(meta=meta, norm=None, encoder_graph=shared, decoder_graph=frames,
                               encoder_weights=b"", groups=RANGES, group_weights=payloads)
