"""Quantiser, entropy coder and tensor codec: the layers under the container."""
import numpy as np
import pytest

from siedd_codec.binio import ByteReader, ByteWriter
from siedd_codec.entropy import decode_symbols, encode_symbols
from siedd_codec.errors import SieddFormatError
from siedd_codec.quantize import dequantize_rows, quantize_rows
from siedd_codec.tensor_codec import compress, decompress


@pytest.mark.parametrize("bits", [4, 6, 8, 10])
def test_quantiser_rounds_to_nearest_within_half_a_step(bits):
    rng = np.random.default_rng(bits)
    w = rng.normal(0, 0.05, (64, 48)).astype(np.float32)
    w[3] *= 20  # one loud row must not coarsen the others
    codes, steps = quantize_rows(w, bits)
    back = dequantize_rows(codes, steps)
    assert np.abs(codes).max() <= 2 ** (bits - 1) - 1
    err = np.abs(back - w)
    assert np.all(err <= steps.astype(np.float32)[:, None] / 2 * 1.001 + 1e-12)
    assert steps[3] > 10 * np.median(steps)


def test_quantiser_zero_rows_and_1d():
    w = np.zeros((4, 8), np.float32)
    codes, steps = quantize_rows(w, 6)
    assert np.all(codes == 0) and np.all(dequantize_rows(codes, steps) == 0)
    b = np.linspace(-1, 1, 9, dtype=np.float32)
    codes, steps = quantize_rows(b, 8)
    assert steps.shape == (1,) and np.allclose(dequantize_rows(codes, steps), b, atol=1 / 127)


@pytest.mark.parametrize("values", [
    np.array([5] * 100),                                  # constant: no stream at all
    np.random.default_rng(0).integers(-31, 32, 5000),     # uniform 6-bit
    np.round(np.random.default_rng(1).laplace(0, 3, 20000)).clip(-127, 127),
])
def test_entropy_coder_round_trip(values):
    out = ByteWriter()
    encode_symbols(values, out)
    data = out.getvalue()
    src = ByteReader(data, "test")
    back = decode_symbols(src, values.size)
    src.expect_end()
    assert np.array_equal(back, values.astype(np.int32))


def test_entropy_coder_beats_fixed_width_on_peaked_data():
    values = np.round(np.random.default_rng(2).laplace(0, 2, 50000)).clip(-31, 31)
    out = ByteWriter()
    encode_symbols(values, out)
    assert len(out.getvalue()) * 8 / values.size < 4.0   # vs 6 bits fixed


def test_entropy_decoder_rejects_inconsistent_histogram():
    values = np.round(np.random.default_rng(4).laplace(0, 1, 3000)).clip(-20, 20)
    out = ByteWriter()
    encode_symbols(values, out)
    assert out.getvalue()[0] == 0   # the histogram model won on peaked data
    with pytest.raises(SieddFormatError, match="histogram"):
        decode_symbols(ByteReader(out.getvalue(), "t"), values.size + 1)


def test_tensor_codec_round_trip_and_shape_checks():
    rng = np.random.default_rng(3)
    tensors = {"a.w": (rng.normal(0, 0.1, (16, 8)).astype(np.float32), 6),
               "a.b": (rng.normal(0, 0.1, (16,)).astype(np.float32), 10),
               "heads.w": (rng.normal(0, 0.1, (5, 3, 8)).astype(np.float32), 8)}
    data = compress(tensors)
    shapes = {k: v[0].shape for k, v in tensors.items()}
    back = decompress(data, shapes, "t")
    for name, (value, bits) in tensors.items():
        step = np.abs(value).max() / (2 ** (bits - 1) - 1)
        assert back[name].shape == value.shape
        assert np.abs(back[name] - value).max() <= step
    with pytest.raises(SieddFormatError, match="shape"):
        decompress(data, {**shapes, "a.w": (8, 16)}, "t")
    with pytest.raises(SieddFormatError, match="tensors"):
        decompress(data, {"a.w": (16, 8)}, "t")
    with pytest.raises(SieddFormatError):
        decompress(data[:-5], shapes, "t")
