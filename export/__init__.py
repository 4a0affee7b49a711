"""siedd's ONNX export stage (installed as `siedd_export`): builds the shared-encoder and
group-decoder graphs from the model description, and bakes weights into standalone files."""
from .graphs import bake_weights, decoder_graph, encoder_graph

__all__ = ["encoder_graph", "decoder_graph", "bake_weights"]
