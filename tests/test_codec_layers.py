"""The layers under the container: quantisation in training (qat), the entropy coder and its
Laplace model, the tensor codec, and how a predicted group builds on the one before it."""
import math

import numpy as np
import pytest
import torch

from siedd_codec.binio import ByteReader, ByteWriter
from siedd_codec.entropy import (BUCKET_CHOICES, CAUSAL, CONTEXT_BUCKETS, DIFFERENCES, LAPLACE, MAX_MAGNITUDE,
                                 PLANES, ROWS, _encode_planes, causal_neighbours, decode_symbols,
                                 encode_causal, encode_symbols, fit_laplace, laplace_table,
                                 plane_buckets, plane_differences, predictions, read_symbols,
                                 rebuild_causal)
from siedd_codec.errors import SieddFormatError
from siedd_codec.model_spec import PREDICTED, group_shapes
from siedd_codec.qat import StoredTensors, laplace_bits, laplace_rate
from siedd_codec.tensor_codec import compress, decompress
from siedd_codec.weights import HEAD_DELTAS, PREDICTED_GROUP, decode_group, encode_group


def _round_trip(values) -> tuple[int, bytes]:
    out = ByteWriter()
    kind = encode_symbols(values, out)
    data = out.getvalue()
    src = ByteReader(data, "test")
    back = decode_symbols(src, values.size)
    src.expect_end()
    assert np.array_equal(back, np.asarray(values).astype(np.int32).ravel())
    return kind, data


@pytest.mark.parametrize("values", [
    np.array([5] * 100),                                  # constant: no stream at all
    np.random.default_rng(0).integers(-31, 32, 5000),     # uniform 6-bit
    np.round(np.random.default_rng(1).laplace(0, 3, 20000)).clip(-127, 127),
    np.round(np.random.default_rng(2).laplace(0, 0.4, 9216)),   # mostly zeros, as trained
    np.array([-70000, 0, 3]),                             # an alphabet too wide: refused
])
def test_entropy_coder_round_trip(values):
    if np.ptp(values) >= 1 << 16:
        with pytest.raises(ValueError, match="too many"):
            encode_symbols(values, ByteWriter())
        return
    _round_trip(values)


def test_laplace_model_wins_on_laplace_data_and_costs_near_the_entropy():
    values = np.round(np.random.default_rng(3).laplace(0, 1.5, 9216))
    kind, data = _round_trip(values)
    assert kind == LAPLACE
    counts = np.unique(values, return_counts=True)[1]
    entropy_bytes = -(counts * np.log2(counts / counts.sum())).sum() / 8
    assert len(data) < entropy_bytes * 1.02 + 16


def test_laplace_table_is_pinned():
    """The table is part of the format: integer frequencies every machine computes alike."""
    table = laplace_table(40000, -3, 4)
    # s = 40000/65536: P(0) = 1 - s, P(+-1) = (1 - s^2) s / 2, ... times 2^24, floored, + 1
    assert table.tolist() == [445845.0, 1196806.0, 3212652.0, 6537217.0, 3212652.0,
                              1196806.0, 445845.0, 166091.0]
    assert np.all(table == np.floor(table)) and np.all(table >= 1)


def test_fit_picks_the_cheapest_scale():
    values = np.round(np.random.default_rng(4).laplace(0, 2.0, 20000)).astype(int)
    lo = values.min()
    counts = np.bincount(values - lo)
    s = fit_laplace(lo, counts)
    b = -0.5 / math.log(s / 65536)                       # s = exp(-1/(2b))
    assert 1.7 < b < 2.3


def test_entropy_decoder_rejects_damage():
    values = np.round(np.random.default_rng(5).laplace(0, 1, 3000)).clip(-20, 20)
    out = ByteWriter()
    encode_symbols(values, out)
    data = bytearray(out.getvalue())
    with pytest.raises(SieddFormatError):
        decode_symbols(ByteReader(bytes(data[:-6]), "t"), values.size)
    data[0] = 9                                           # unknown model
    with pytest.raises(SieddFormatError, match="entropy model"):
        decode_symbols(ByteReader(bytes(data), "t"), values.size)


def test_histogram_must_sum_to_the_count():
    values = np.repeat(np.arange(-3, 4), [1, 40, 2, 500, 3, 60, 1])   # no one-parameter shape
    out = ByteWriter()
    assert encode_symbols(values, out) == 0
    with pytest.raises(SieddFormatError, match="histogram"):
        decode_symbols(ByteReader(out.getvalue(), "t"), values.size + 1)


def test_tensor_codec_round_trip_is_exact_and_checks_length():
    rng = np.random.default_rng(6)
    shapes = {"a.w": (16, 8), "a.b": (16,), "heads.w": (5, 3, 8)}
    codes = {k: (np.round(rng.laplace(0, 2, s)).astype(np.int32), 0.0123) for k, s in shapes.items()}
    data = compress(codes)
    back = decompress(data, shapes, "t")
    for name, (c, step) in codes.items():
        assert back[name].dtype == np.float32
        assert np.array_equal(back[name], c.astype(np.float32) * np.float32(step))
    with pytest.raises(SieddFormatError):
        decompress(data, {**shapes, "extra": (2,)}, "t")
    with pytest.raises(SieddFormatError, match="trailing"):
        decompress(data, {"a.w": (16, 8)}, "t")
    with pytest.raises(ValueError, match="step"):
        compress({"a.w": (codes["a.w"][0], 0.0)})


def test_rate_estimate_matches_the_coded_size():
    """What training pays (qat.laplace_bits on the codes) is what the entropy coder spends."""
    rng = np.random.default_rng(7)
    codes = np.round(rng.laplace(0, 1.2, 20000))
    scale = torch.tensor(np.abs(codes).mean())
    estimate = float(laplace_bits(torch.from_numpy(codes), scale).sum()) / 8
    out = ByteWriter()
    encode_symbols(codes, out)
    assert abs(len(out.getvalue()) - estimate) < 0.02 * estimate


def test_hard_stage_weights_are_exactly_the_stored_ones():
    gen = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 16, 16, generator=gen) * 0.05)
    base = {"dec.w1": torch.randn(3, 16, 16, generator=gen) * 0.05}
    stored = StoredTensors({"dec.w1": w}, banked=True, learn_steps=True,
                           init_bits={"dec.w1": 6}, base=base)
    weights, bits, _ = stored("hard")
    assert bits.shape == (3,) and torch.all(bits > 0)
    for bank in range(3):
        codes, step = stored.codes(bank)["dec.w1"]
        decoded = base["dec.w1"][bank].numpy() + codes.astype(np.float32) * np.float32(step)
        assert np.array_equal(weights["dec.w1"][bank].detach().numpy(), decoded)
    # straight-through: the gradient reaches the float weights and the steps
    (weights["dec.w1"].square().sum() + bits.sum()).backward()
    assert w.grad is not None and stored.log_step.grad is not None


def test_noise_stage_is_unbiased_and_within_half_a_step():
    w = torch.nn.Parameter(torch.full((1, 4096), 0.3))
    stored = StoredTensors({"x": w}, banked=True, learn_steps=False, init_bits={"x": 4})
    weights, _, _ = stored("noise", gen=torch.Generator().manual_seed(1))
    step = float(stored.steps()["x"][0])
    err = weights["x"].detach() - 0.3
    assert err.abs().max() <= step / 2 + 1e-7 and abs(float(err.mean())) < step / 20


def test_predicted_group_adds_to_the_previous_one():
    d, frames = 8, 3
    rng = np.random.default_rng(8)
    shapes = group_shapes(d, frames)
    key = {k: (np.round(rng.laplace(0, 5, s)).astype(np.int32), 0.01) for k, s in shapes.items()}
    residual = {k: (np.round(rng.laplace(0, 1, s)).astype(np.int32), 0.002) for k, s in shapes.items()}
    previous = decode_group(encode_group(key, d, frames, 0), d, frames, (2, 0), 0)
    payload = encode_group(residual, d, frames, PREDICTED_GROUP)
    got = decode_group(payload, d, frames, (2, 0), 1, previous)
    for name, (c, step) in residual.items():
        values = c.astype(np.float32) * np.float32(step)
        expect = previous[name] + values if name in PREDICTED else values
        assert np.array_equal(got[name], expect)
    with pytest.raises(SieddFormatError, match="first group"):
        decode_group(payload, d, frames, (2, 0), 0, previous)


def test_head_deltas_training_equals_decoding():
    """Heads coded as frame-to-frame differences: the hard stage's closed loop computes exactly
    the values the decoder sums up, and the gradient still reaches every frame's head."""
    gen = torch.Generator().manual_seed(3)
    d, frames = 8, 5
    shapes = group_shapes(d, frames)
    params = {k: torch.nn.Parameter(torch.randn(2, *s, generator=gen) * 0.05)
              for k, s in shapes.items()}
    stored = StoredTensors(params, banked=True, learn_steps=True,
                           init_bits={k: 6 for k in shapes}, deltas=("heads.w", "heads.b"))
    weights, bits, _ = stored("hard")
    for bank in range(2):
        codes = stored.codes(bank)
        got = decode_group(encode_group(codes, d, frames, HEAD_DELTAS), d, frames, (2, 0), 0)
        for name in shapes:
            assert np.array_equal(got[name], weights[name][bank].detach().numpy()), name
    # the closed loop keeps every head within half a step of its float value
    step = float(stored.steps()["heads.w"][0])
    assert (weights["heads.w"] - params["heads.w"]).abs().max() <= step / 2 * 1.0001
    weights["heads.w"].sum().backward()
    assert torch.allclose(params["heads.w"].grad, torch.ones_like(params["heads.w"]))


def test_rate_control_steers_lambda_within_its_bounds():
    """Dual ascent raises lambda while the codes are over budget and lowers it while under, but
    only within steering_bounds of the quality's lambda: a rate that answers slowly must not run
    lambda to where training throws the weights away."""
    from siedd_codec.ratecontrol import Lagrangian, quality_to_lambda, steering_bounds
    lam0 = quality_to_lambda(50)
    lo, hi = steering_bounds(lam0)
    assert lo < lam0 < hi
    for stored_bits, bound in ((3e5, hi), (1e4, lo)):
        lag = Lagrangian(lam0, torch.tensor([1e5]), torch.tensor([1e5]), bounds=(lo, hi))
        first = None
        for step in range(2000):
            lag.observe(step, torch.tensor([0.01]), torch.tensor([stored_bits]),
                        torch.tensor([stored_bits]))
            first = lag.values()[0] if first is None else first
        assert (first > lam0) == (stored_bits > 1e5)
        assert lag.values()[0] == pytest.approx(bound)


def _moving_planes(planes=16, h=40, w=48, seed=5):
    """Sparse integer planes whose busy area drifts from plane to plane, like a per-frame
    latent level of a moving object: the plane before tells where the codes are."""
    rng = np.random.default_rng(seed)
    out = np.zeros((planes, h, w), dtype=np.int64)
    for t in range(planes):
        y, x = 10 + t % 4, 5 + t
        out[t, y:y + 10, x:x + 10] = np.round(rng.laplace(0, 3, (10, 10)))
    out[:, 0, 0] = rng.integers(-1, 2, planes)      # a little noise elsewhere
    return out


def _nonzero(rng, shape):
    return rng.integers(1, 8, shape) * rng.choice([-1, 1], shape)


def _busy_spots(planes=16, h=60, w=80, seed=6):
    """Scattered spots busy in every plane with new values each time: only the plane before
    tells where they are (model 3)."""
    rng = np.random.default_rng(seed)
    spots = rng.random((h, w)) < 0.03
    return np.where(spots, _nonzero(rng, (planes, h, w)), 0).astype(np.int64)


def _slow_planes(planes=16, h=40, w=48, seed=7):
    """Busy planes that change a little from one to the next (model 5)."""
    rng = np.random.default_rng(seed)
    start = np.round(rng.laplace(0, 4, (1, h, w)))
    moves = rng.choice([-1, 1], (planes - 1, h, w)) * (rng.random((planes - 1, h, w)) < 0.1)
    return np.concatenate([start, start + np.cumsum(moves, axis=0)]).astype(np.int64)


def _busy_columns(h=80, w=96, seed=8):
    """One plane whose busy bands of columns run down it: the row before tells where
    (model 4)."""
    rng = np.random.default_rng(seed)
    bands = (np.arange(w) // 6) % 3 == 0
    return np.where(bands, _nonzero(rng, (1, h, w)), 0).astype(np.int64)


def _smooth_planes(planes=3, h=50, w=70, seed=9):
    """Planes of smooth surfaces (a shared latent level where the picture has broad shapes):
    a value is near a blend of its left and upper neighbours (model 6)."""
    rng = np.random.default_rng(seed)
    bumps = rng.normal(0, 1, (planes, h, w)).cumsum(axis=1).cumsum(axis=2)
    return np.round(bumps / 6).astype(np.int64)


def test_model_6_tensors_rebuilt_together_equal_each_alone():
    """The reader rebuilds a group's model-6 tensors in one wavefront loop: tensors of other
    shapes, plane counts, bucket counts and weights, in one stream, come back as coded."""
    tensors = [(_smooth_planes(1, 40, 64, seed=1), (5, 3, -1, 1), 6),
               (_smooth_planes(3, 9, 13, seed=2), (4, 4, -2, 0), 2),
               (_smooth_planes(1, 1, 30, seed=3), (8, 0, 0, 0), 3),
               (_smooth_planes(2, 23, 5, seed=4), (-3, 9, 2, -1), 4)]
    data = b"".join(bytes([CAUSAL]) + encode_causal(planes, weights, buckets)
                    for planes, weights, buckets in tensors)
    src = ByteReader(data, "t")
    read = [read_symbols(src, planes.size, planes.shape) for planes, _, _ in tensors]
    src.expect_end()
    together = rebuild_causal(read)
    for (planes, _, _), alone, joint in zip(tensors, [rebuild_causal([r])[0] for r in read],
                                            together):
        assert np.array_equal(joint, planes.ravel()) and np.array_equal(alone, joint)


CONTEXT_CASES = [(_busy_spots, PLANES), (_busy_columns, ROWS), (_slow_planes, DIFFERENCES),
                 (_smooth_planes, CAUSAL)]


@pytest.mark.parametrize("make, model", CONTEXT_CASES)
def test_context_models_round_trip_and_win_where_they_should(make, model):
    values = make()
    out = ByteWriter()
    assert encode_symbols(values, out) == model
    data = out.getvalue()
    src = ByteReader(data, "test")
    back = decode_symbols(src, values.size, values.shape)
    src.expect_end()
    assert np.array_equal(back.reshape(values.shape), values)
    flat = ByteWriter()
    encode_symbols(values.reshape(-1), flat)        # the same codes without their planes
    assert len(data) < 0.85 * len(flat.getvalue())


def test_differences_that_add_up_out_of_bounds_are_refused():
    big = np.full((3, 2, 2), MAX_MAGNITUDE, dtype=np.int64)     # each symbol in bounds
    data = bytes([DIFFERENCES]) + _encode_planes(big)
    with pytest.raises(SieddFormatError, match="add up beyond"):
        decode_symbols(ByteReader(data, "t"), big.size, big.shape)
    assert np.array_equal(np.cumsum(plane_differences(_slow_planes()), axis=0), _slow_planes())


def test_causal_prediction_is_the_documented_formula():
    """Model 6 by hand on a 2 x 3 plane: the neighbours, the predictions floor((w . (l, u, ul,
    ur) + 4) / 8) and the header (buckets, weights), then a round trip."""
    q = np.array([[[3, -1, 4], [2, 0, -5]]], dtype=np.int64)
    near = causal_neighbours(q)
    assert near[:, 0, 1, 1].tolist() == [2, -1, 3, 4]          # l, u, ul, ur of q[1, 1]
    assert near[:, 0, 0, 0].tolist() == [0, 0, 0, 0]
    weights = (5, 4, -2, 1)
    body = encode_causal(q, weights)
    assert body[0] == CONTEXT_BUCKETS and list(np.frombuffer(body[1:5], np.int8)) == [5, 4, -2, 1]
    pred = {(0, 0): 0, (0, 1): (5 * 3 + 4) >> 3, (0, 2): (5 * -1 + 4) >> 3,
            (1, 0): (4 * 3 + 1 * -1 + 4) >> 3, (1, 1): (5 * 2 + 4 * -1 - 2 * 3 + 1 * 4 + 4) >> 3,
            (1, 2): (5 * 0 + 4 * 4 - 2 * -1 + 4) >> 3}
    assert pred[(1, 1)] == 1 and pred[(0, 2)] == -1        # floor, not truncation
    got = predictions(near, weights)[0]
    assert {yx: int(got[yx]) for yx in pred} == pred
    back = decode_symbols(ByteReader(bytes([CAUSAL]) + body, "t"), q.size, q.shape)
    assert np.array_equal(back.reshape(q.shape), q)


@pytest.mark.parametrize("buckets", BUCKET_CHOICES)
def test_every_bucket_count_round_trips(buckets):
    """The encoder picks each tensor's bucket count; the decoder takes the one in the stream."""
    for model, values, body in (
            (PLANES, _busy_spots(), lambda v: _encode_planes(v, buckets)),
            (CAUSAL, _smooth_planes(), lambda v: encode_causal(v, (4, 4, -2, 0), buckets))):
        data = bytes([model]) + body(values)
        assert data[1] == buckets
        back = decode_symbols(ByteReader(data, "t"), values.size, values.shape)
        assert np.array_equal(back.reshape(values.shape), values)


def test_fewer_buckets_are_chosen_where_they_pay():
    """A small tensor pays a stream header per bucket: the encoder codes it with fewer."""
    values = _smooth_planes(planes=1, h=30, w=40)
    out = ByteWriter()
    assert encode_symbols(values, out) == CAUSAL
    data = out.getvalue()
    assert data[1] < CONTEXT_BUCKETS
    assert len(data) < len(bytes([CAUSAL]) + encode_causal(values, (4, 4, -2, 0)))


def test_causal_values_out_of_bounds_are_refused():
    """Weights of 4 x left make 4^x from zero residuals: the decoder stops past 2^24."""
    row = (4 ** np.arange(16, dtype=np.int64))[None, None, :]
    data = bytes([CAUSAL]) + encode_causal(row, (32, 0, 0, 0))
    with pytest.raises(SieddFormatError, match="beyond"):
        decode_symbols(ByteReader(data, "t"), row.size, row.shape)
    small = row[:, :, :12]                                   # 4^11 < 2^24: decodes
    data = bytes([CAUSAL]) + encode_causal(small, (32, 0, 0, 0))
    assert np.array_equal(decode_symbols(ByteReader(data, "t"), small.size, small.shape),
                          small.ravel())


def test_plane_buckets_are_the_neighbourhood_of_the_plane_before():
    prev = np.zeros((4, 5), dtype=np.int64)
    prev[1, 2] = -2
    prev[3, 4] = 9
    b = plane_buckets(prev)
    assert b[1, 2] == 2 and b[0, 2] == b[2, 2] == b[1, 1] == b[1, 3] == 2
    assert b[0, 0] == 0 and b[3, 4] == CONTEXT_BUCKETS - 1 and b[2, 4] == CONTEXT_BUCKETS - 1
    assert b[2, 3] == 0      # diagonal neighbours are not in the context


def test_training_buckets_are_the_coders():
    """The grid trainer's rate (torch) puts every latent in the bucket the coder (numpy) will."""
    from siedd_codec.grid.model import plane_buckets as torch_buckets
    gen = torch.Generator().manual_seed(3)
    planes = torch.randn(5, 9, 11, generator=gen) * 1.5        # rounds to 0, +-1, +-2, ...
    got = torch_buckets(planes).numpy()
    codes = torch.sign(planes) * torch.floor(planes.abs() + 0.5)  # the file's codes
    want = np.stack([plane_buckets(codes[t].numpy().astype(np.int64)) for t in range(5)])
    assert np.array_equal(got, want)
    from siedd_codec.grid.model import plane_differences as torch_differences
    assert np.array_equal(torch_differences(codes).numpy().astype(np.int64),
                          plane_differences(codes.numpy().astype(np.int64)))


@pytest.mark.parametrize("make, model, damage", [
    (make, model, damage) for make, model in CONTEXT_CASES
    for damage in ("shape", "buckets", "sizes", "cut") + (("weights",) if model == CAUSAL else ())])
def test_damaged_context_streams_are_one_clear_error(make, model, damage):
    values = make()
    out = ByteWriter()
    assert encode_symbols(values, out) == model
    data = bytearray(out.getvalue())
    sizes_at = 6 if model == CAUSAL else 2       # model 6 has its 4 weights before the sizes
    shape = values.shape
    if damage == "shape":                   # a context model where the tensor has no planes
        shape = (values.size,)
    elif damage == "buckets":
        data[1] = 0
    elif damage == "weights":               # model 6's first weight beyond +-32
        data[2] = 33
    elif damage == "sizes":                 # the first bucket claims one symbol more
        data[sizes_at] += 1
    else:
        data = data[:len(data) // 2]
    with pytest.raises(SieddFormatError):
        decode_symbols(ByteReader(bytes(data), "t"), values.size, shape)


def test_laplace_rate_equals_laplace_bits_in_value_and_gradient():
    """The grid trainer's fused rate is the per-value formula's sum, gradients included."""
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(4000, generator=gen) * torch.rand(4000, generator=gen) * 5
    values[:500] = torch.rand(500, generator=gen) - 0.5          # the |v| < 1/2 branch
    log_scales = torch.tensor([-1.5, 0.0, 1.2, 12.0])            # the last one clamped
    buckets = torch.randint(0, 4, (4000,), generator=gen)
    for idx, table in ((buckets, log_scales), (None, log_scales[1:2])):
        v1, s1 = values.clone().requires_grad_(), table.clone().requires_grad_()
        scale = s1.exp().clamp(0.02, 1e4)
        ref = laplace_bits(v1, scale[idx] if idx is not None else scale).sum()
        ref.backward()
        v2, s2 = values.clone().requires_grad_(), table.clone().requires_grad_()
        got = laplace_rate(v2, s2, idx)
        got.backward()
        assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
        assert torch.allclose(v2.grad, v1.grad, atol=1e-5)
        assert torch.allclose(s2.grad, s1.grad, rtol=1e-4, atol=1e-3)
