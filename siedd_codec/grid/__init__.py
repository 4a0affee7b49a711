"""The latent-grid model family: per group of frames, quantised multi-resolution latent grids
over space and time and a small synthesis network (spec.py). family.py is its face to the rest
of siedd (families.py)."""
