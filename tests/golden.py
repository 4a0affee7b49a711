"""A deterministic synthetic .siedd (no training): fixed seeded weights through the real writer.
Used by the golden tests; regenerate the pinned values only for a deliberate format change."""
import numpy as np

from siedd_codec import container
from siedd_codec.encoder import code_tensors
from siedd_codec.model_spec import DECODER_LAYERS, ENCODER_LAYERS, OMEGA, PE_OCTAVES
from siedd_codec.model_spec import encoder_shapes, group_shapes

HIDDEN, FRAMES, GROUP = 8, 5, 2
QUANT = {"shared_bits": 6, "head_bits": 8, "encoder_bits": 8, "bias_bits": 10}


def synthetic_file() -> container.SieddFile:
    from siedd_export.graphs import decoder_graph, encoder_graph, serialize
    rng = np.random.default_rng(1234)
    enc = {k: rng.uniform(-0.5, 0.5, s).astype(np.float32) for k, s in encoder_shapes(HIDDEN).items()}
    ranges = [(0, 2), (2, 2), (4, 1)]
    groups = []
    for _, count in ranges:
        w = {k: rng.uniform(-0.1, 0.1, s).astype(np.float32)
             for k, s in group_shapes(HIDDEN, count).items()}
        groups.append(code_tensors(w, group_shapes(HIDDEN, count), QUANT))
    norm = np.stack([np.linspace(0.3, 0.5, FRAMES), np.linspace(0.2, 0.25, FRAMES)], 1)
    meta = {"video": {"width": 6, "height": 4, "frame_count": FRAMES, "fps": [25, 1],
                      "color": {"matrix": "itu601", "range": "MPEG"}, "source": "synthetic"},
            "model": {"preset": "test", "hidden": HIDDEN, "group_size": GROUP,
                      "pe_octaves": PE_OCTAVES, "omega": OMEGA, "encoder_layers": ENCODER_LAYERS,
                      "decoder_layers": DECODER_LAYERS},
            "quant": QUANT, "encoder": {"software": "golden"}}
    return container.SieddFile(meta=meta, norm=norm.astype(np.float32),
                               encoder_graph=serialize(encoder_graph(HIDDEN)),
                               decoder_graph=serialize(decoder_graph(HIDDEN)),
                               encoder_weights=code_tensors(enc, encoder_shapes(HIDDEN), QUANT),
                               groups=ranges, group_weights=groups)
