"""Entropy coding of integer symbols with an ANS coder (constriction, Rust core).

Seven models; the encoder keeps whichever gives the fewest bytes:
  0  histogram: the array's own symbol counts travel with it (LEB128 varints). Best for large
     tensors whose shape no one-parameter model fits.
  1  uniform over [sym_min, sym_max]: no side information.
  2  Laplace: the zero-mean Laplace discretised on unit bins, one parameter. This is the model
     training's rate term (qat.py) estimates bits with, so what training pays is what is coded.
     With s = s_code / 65536 (s = exp(-1/(2b)), b the Laplace scale in code units):
         P(0) = 1 - s,    P(q) = P(-q) = (1 - s^2) s^(2|q| - 1) / 2   for q != 0,
     restricted to [sym_min, sym_max]. The table is computed with IEEE-exact operations only
     (products in a fixed order, floor), then given to constriction as integer frequencies
     floor(P 2^24) + 1, so every machine builds the same table and decodes the same symbols.
  3  planes with context (3-D tensors of 2+ planes): plane 0 alone, every later symbol in the
     stream of its context's bucket, the context taken from the plane before (plane_buckets).
  4  rows with context (tensors of 2+ dimensions and 2+ rows): model 3 on the tensor seen as
     rows of its last axis, (rows, 1, n): a row's context is the row before.
  5  differences (3-D tensors of 2+ planes): model 3 on plane 0 and then each plane minus the
     one before; the decoder adds them up. Pays where planes change slowly.
  6  causal prediction (tensors of 2+ dimensions, seen as planes of their last two axes): each
     value less a prediction from its left, upper, upper-left and upper-right neighbours
     (integer weights in eighths, stored), in the stream of the bucket of those neighbours'
     magnitudes. The decoder rebuilds the planes a skewed wavefront (2y + x) at a time, so it
     loops 2H + W times, not H x W (a group's model-6 tensors together: rebuild_causal). Pays
     on smooth latent grids.
  Models 3-6 are tried with each of BUCKET_CHOICES buckets (the count is in the stream).
  (docs/FORMAT.md has models 3-6 byte by byte.)

Bitstream of one coded array (format 2; little-endian; varints are LEB128, `zigzag` maps
0, -1, 1, -2, ... to 0, 1, 2, 3, ...):
    u8      model
    varint  zigzag(sym_min); varint  sym_max - sym_min        (< 65536)
    model 0: varint counts[sym_max - sym_min + 1], summing to the array's element count
    model 2: u16 s_code (1..65535)
    varint  n_words            ANS stream length in 32-bit words (0 when sym_min == sym_max)
    u32     words[n_words]
Format 1 files used a fixed-width header (`decode_symbols_v1`, kept to read them).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import constriction

from .binio import ByteReader, ByteWriter
from .errors import SieddFormatError

MAX_ALPHABET = 1 << 16
MAX_MAGNITUDE = 1 << 24          # |symbol| bound of format 2
HISTOGRAM, UNIFORM, LAPLACE, PLANES, ROWS, DIFFERENCES, CAUSAL = 0, 1, 2, 3, 4, 5, 6
CONTEXT_BUCKETS = 6              # models 3-5's buckets as training prices them
BUCKET_CHOICES = (2, 3, 4, 6)    # the bucket counts the encoder tries for models 3-6
MAX_WEIGHT = 32                  # model 6's |weight| bound, in eighths
CAUSAL_MIN_VALUES = 64           # model 6 is not tried on smaller tensors
MAX_BUCKETS = 64
TABLE_BITS = 24


# -- varints ------------------------------------------------------------------------------------
def varint_bytes(values) -> bytes:
    out = bytearray()
    for v in (values.tolist() if isinstance(values, np.ndarray) else values):
        if v < 0:
            raise ValueError("varints are unsigned")
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        out.append(v)
    return bytes(out)


def read_varint(src: ByteReader, limit_bits: int = 35) -> int:
    value = shift = 0
    while True:
        byte = src.u8()
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value
        if shift >= limit_bits:
            raise SieddFormatError(f"{src.what}: malformed varint")


def zigzag(v: int) -> int:
    return 2 * v if v >= 0 else -2 * v - 1


def unzigzag(u: int) -> int:
    return u // 2 if u % 2 == 0 else -(u + 1) // 2


def _read_counts(src: ByteReader, alphabet: int, total: int) -> np.ndarray:
    counts = np.zeros(alphabet, dtype=np.int64)
    for i in range(alphabet):
        counts[i] = read_varint(src)
    if int(counts.sum()) != total:
        raise SieddFormatError(f"{src.what}: histogram sums to {int(counts.sum())}, expected {total}")
    return counts


# -- models --------------------------------------------------------------------------------------
def laplace_table(s_code: int, lo: int, hi: int) -> np.ndarray:
    """Unnormalised integer frequencies (as float64) of symbols lo..hi; see the module doc."""
    s = s_code / 65536.0
    s2 = s * s
    top = max(abs(lo), abs(hi))
    magnitude = np.empty(top + 1, dtype=np.float64)
    magnitude[0] = 1.0 - s
    if top:
        powers = np.cumprod(np.concatenate([[1.0], np.full(top - 1, s2)]))     # s2^0 .. s2^(top-1)
        magnitude[1:] = (0.5 * (1.0 - s2) * s) * powers
    p = magnitude[np.abs(np.arange(lo, hi + 1))]
    return np.floor(p * float(1 << TABLE_BITS)) + 1.0


def laplace_bits_per_symbol(s_code: int, lo: int, counts: np.ndarray) -> float:
    """Ideal code length in bits of symbols with these counts (counts[i] of value lo + i)."""
    freq = laplace_table(s_code, lo, lo + len(counts) - 1)
    return float(-(counts * np.log2(freq / freq.sum())).sum())


def fit_laplace(lo: int, counts: np.ndarray) -> int:
    """The s_code whose table codes these counts in the fewest bits (a scan over the scale b,
    then a local refinement)."""
    def s_code_of(b: float) -> int:
        return int(min(65535, max(1, round(65536.0 * np.exp(-0.5 / b)))))
    scales = np.exp(np.linspace(np.log(0.02), np.log(2.0 * MAX_ALPHABET), 97))
    candidates = sorted({s_code_of(b) for b in scales})
    costs = [laplace_bits_per_symbol(c, lo, counts) for c in candidates]
    best = int(np.argmin(costs))
    lo_c = candidates[max(0, best - 1)]
    hi_c = candidates[min(len(candidates) - 1, best + 1)]
    fine = np.unique(np.linspace(lo_c, hi_c, 33).round().astype(int))
    fine_costs = [laplace_bits_per_symbol(int(c), lo, counts) for c in fine]
    return int(fine[int(np.argmin(fine_costs))])


def _model(kind: int, lo: int, alphabet: int, param):
    if kind == HISTOGRAM:
        return constriction.stream.model.Categorical(param.astype(np.float64), perfect=False)
    if kind == LAPLACE:
        return constriction.stream.model.Categorical(laplace_table(param, lo, lo + alphabet - 1),
                                                     perfect=False)
    return constriction.stream.model.Uniform(alphabet)


def _stream(symbols: np.ndarray, model) -> np.ndarray:
    coder = constriction.stream.stack.AnsCoder()
    coder.encode_reverse(symbols, model)
    return coder.get_compressed()


def _decode_stream(src: ByteReader, words: np.ndarray, model, count: int) -> np.ndarray:
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        return coder.decode(model, count)
    except (ValueError, RuntimeError) as exc:
        raise SieddFormatError(f"{src.what}: corrupt ANS stream ({exc})") from None


# -- format 2 ------------------------------------------------------------------------------------
def encode_symbols(values: np.ndarray, out: ByteWriter) -> int:
    """Code integer `values`; returns the model used. Arrays of more than one row are also
    tried with the rows' context (model 4); 3-D arrays of more than one plane with the planes'
    context on the values (model 3) and on their differences (model 5); arrays of 2+
    dimensions and CAUSAL_MIN_VALUES+ values with causal prediction (model 6)."""
    values = np.asarray(values, dtype=np.int64)
    kind, data = _encode_flat(values.ravel())
    bodies = []                            # (model, its body for a bucket count)
    if values.ndim >= 2 and values.size > values.shape[-1]:
        bodies.append((ROWS, partial(_encode_planes, values.reshape(-1, 1, values.shape[-1]))))
    if values.ndim == 3 and values.shape[0] > 1:
        bodies.append((PLANES, partial(_encode_planes, values)))
        bodies.append((DIFFERENCES, partial(_encode_planes, plane_differences(values))))
    if values.ndim >= 2 and values.size >= CAUSAL_MIN_VALUES:
        planes = values.reshape(-1, *values.shape[-2:])
        bodies += [(CAUSAL, partial(encode_causal, planes, weights))
                   for weights in causal_weight_candidates(planes)]
    for model, body in bodies:
        for buckets in BUCKET_CHOICES:
            try:
                coded = bytes([model]) + body(buckets)
            except ValueError:             # symbols beyond the bounds, whatever the buckets
                break
            if len(coded) < len(data):
                kind, data = model, coded
    out.raw(data)
    return kind


def plane_differences(values: np.ndarray) -> np.ndarray:
    """Model 5's symbols: plane 0, then each plane minus the one before."""
    out = values.astype(np.int64)
    out[1:] = out[1:] - out[:-1]
    return out


def _encode_flat(flat: np.ndarray) -> tuple[int, bytes]:
    """-> (model, bytes) of the smallest of models 0-2."""
    if flat.size == 0:
        raise ValueError("nothing to encode")
    lo, hi = int(flat.min()), int(flat.max())
    alphabet = hi - lo + 1
    if alphabet > MAX_ALPHABET or max(-lo, hi) > MAX_MAGNITUDE:
        raise ValueError(f"symbols {lo}..{hi}: too many or too large")
    head = varint_bytes([zigzag(lo), alphabet - 1])
    if alphabet == 1:                      # a constant array needs no stream
        return UNIFORM, bytes([UNIFORM]) + head + varint_bytes([0])
    symbols = (flat - lo).astype(np.int32)
    counts = np.bincount(symbols, minlength=alphabet)
    s_code = fit_laplace(lo, counts)
    options = []
    for kind, param, side in ((HISTOGRAM, counts, varint_bytes(counts)),
                              (UNIFORM, None, b""),
                              (LAPLACE, s_code, s_code.to_bytes(2, "little"))):
        words = _stream(symbols, _model(kind, lo, alphabet, param))
        options.append((len(side) + 4 * len(words) + len(varint_bytes([len(words)])), kind, side,
                        words))
    _, kind, side, words = min(options, key=lambda o: (o[0], o[1]))
    return kind, (bytes([kind]) + head + side + varint_bytes([len(words)])
                  + words.astype("<u4").tobytes())


def plane_buckets(previous: np.ndarray, buckets: int = CONTEXT_BUCKETS) -> np.ndarray:
    """Model 3's context of each symbol of a plane: min(|p[y, x]| + |p[y - 1, x]| +
    |p[y + 1, x]| + |p[y, x - 1]| + |p[y, x + 1]|, buckets - 1), p the plane before (int64;
    zero outside it)."""
    a = np.abs(previous.astype(np.int64))
    c = a.copy()
    c[1:] += a[:-1]
    c[:-1] += a[1:]
    c[:, 1:] += a[:, :-1]
    c[:, :-1] += a[:, 1:]
    return np.minimum(c, buckets - 1)


def _encode_planes(values: np.ndarray, buckets: int = CONTEXT_BUCKETS) -> bytes:
    """Models 3-5's body (after the model byte): plane 0 alone, then every later symbol in the
    stream of its context's bucket (in plane order, then C order: what _decode_planes takes
    back)."""
    parts: list[list[np.ndarray]] = [[] for _ in range(buckets)]
    for t in range(1, values.shape[0]):
        b = plane_buckets(values[t - 1], buckets).ravel()
        ordered = values[t].ravel()[np.argsort(b, kind="stable")]
        bounds = np.cumsum(np.bincount(b, minlength=buckets))[:-1]
        for k, chunk in enumerate(np.split(ordered, bounds)):
            parts[k].append(chunk)
    streams = [np.concatenate(p) for p in parts]
    return (bytes([buckets]) + varint_bytes([len(s) for s in streams])
            + _encode_flat(values[0].ravel())[1] + _bucket_streams(streams))


def _bucket_streams(streams) -> bytes:
    """Models 3-6's bucket streams, each non-empty one coded with models 0-2."""
    return b"".join(_encode_flat(stream)[1] for stream in streams if len(stream))


def _read_bucket_count(src: ByteReader) -> int:
    buckets = src.u8()
    if not 1 <= buckets <= MAX_BUCKETS:
        raise SieddFormatError(f"{src.what}: bad context bucket count {buckets}")
    return buckets


def _read_bucket_sizes(src: ByteReader, buckets: int, expected: int) -> np.ndarray:
    sizes = np.array([read_varint(src) for _ in range(buckets)], dtype=np.int64)
    if int(sizes.sum()) != expected:
        raise SieddFormatError(f"{src.what}: context streams hold {int(sizes.sum())} symbols, "
                               f"expected {expected}")
    return sizes


def _read_bucket_streams(src: ByteReader, sizes: np.ndarray) -> list[np.ndarray]:
    return [_decode_flat(src, src.u8(), int(n)) if n else np.empty(0, np.int32) for n in sizes]


# -- model 6: causal prediction --------------------------------------------------------------
def causal_neighbours(planes: np.ndarray) -> np.ndarray:
    """(4, P, H, W) int64: each value's left, upper, upper-left and upper-right neighbour in its
    plane (zero outside it)."""
    p = np.pad(planes.astype(np.int64), ((0, 0), (1, 0), (1, 1)))
    h, w = planes.shape[1:]
    return np.stack([p[:, 1:, 0:w], p[:, :h, 1:w + 1], p[:, :h, 0:w], p[:, :h, 2:w + 2]])


def causal_buckets(neighbours: np.ndarray, buckets=CONTEXT_BUCKETS) -> np.ndarray:
    """Model 6's context: min(|left| + |up| + |up-left| + |up-right|, buckets - 1); `buckets`
    one count, or one per value."""
    return np.minimum(np.abs(neighbours).sum(axis=0), np.asarray(buckets) - 1)


def predictions(neighbours: np.ndarray, weights) -> np.ndarray:
    """floor((w . neighbours + 4) / 8) over the first axis, in int64 (an arithmetic shift
    floors); `weights` (4,), or (4, n) with one set per value of neighbours (4, n)."""
    w = np.asarray(weights, dtype=np.int64)
    w = w.reshape(w.shape + (1,) * (neighbours.ndim - w.ndim))
    return ((w * neighbours).sum(axis=0) + 4) >> 3


def wavefront_order(shape: tuple[int, int, int]) -> np.ndarray:
    """Model 6's order of the values (flat indices into (P, H, W)): by 2y + x, then plane, then
    row. Every neighbour a value's prediction reads comes earlier."""
    p, h, w = shape
    pp, yy, xx = np.meshgrid(np.arange(p), np.arange(h), np.arange(w), indexing="ij")
    return np.lexsort((yy.ravel(), pp.ravel(), (2 * yy + xx).ravel()))


def causal_weight_candidates(planes: np.ndarray) -> list[tuple[int, ...]]:
    """Weights worth trying: a least-squares fit to the planes (rounded to eighths, within
    +-MAX_WEIGHT) and the plain planar predictor left + up - up-left / 2."""
    n = causal_neighbours(planes).reshape(4, -1).T.astype(np.float64)
    fit, *_ = np.linalg.lstsq(n, planes.reshape(-1).astype(np.float64), rcond=None)
    fitted = tuple(int(v) for v in np.clip(np.rint(8 * fit), -MAX_WEIGHT, MAX_WEIGHT))
    return list(dict.fromkeys([fitted, (4, 4, -2, 0)]))


def encode_causal(planes: np.ndarray, weights, buckets: int = CONTEXT_BUCKETS) -> bytes:
    """Model 6's body (after the model byte); planes (P, H, W)."""
    planes = planes.astype(np.int64)
    neighbours = causal_neighbours(planes)
    residuals = (planes - predictions(neighbours, weights)).ravel()
    b = causal_buckets(neighbours, buckets).ravel()
    order = wavefront_order(planes.shape)
    b, residuals = b[order], residuals[order]
    sizes = np.bincount(b, minlength=buckets)
    streams = np.split(residuals[np.argsort(b, kind="stable")], np.cumsum(sizes)[:-1])
    return (bytes([buckets]) + np.asarray(weights, dtype=np.int8).tobytes()
            + varint_bytes(sizes) + _bucket_streams(streams))


@dataclass
class CausalTensor:
    """A model-6 tensor read from its stream (residuals per bucket) but not yet rebuilt:
    rebuild_causal runs the wavefronts of several at once."""
    shape: tuple[int, int, int]         # (P, H, W)
    buckets: int
    weights: np.ndarray                 # (4,) int64
    sizes: np.ndarray                   # symbols per bucket
    residuals: np.ndarray               # the buckets' streams end to end
    what: str


def _read_causal(src: ByteReader, shape: tuple[int, int, int]) -> CausalTensor:
    p, h, w = shape
    buckets = _read_bucket_count(src)
    weights = np.frombuffer(bytes(src.take(4)), dtype=np.int8).astype(np.int64)
    if np.abs(weights).max() > MAX_WEIGHT:
        raise SieddFormatError(f"{src.what}: prediction weights {weights.tolist()} beyond "
                               f"+-{MAX_WEIGHT}")
    sizes = _read_bucket_sizes(src, buckets, p * h * w)
    residuals = np.concatenate(_read_bucket_streams(src, sizes)).astype(np.int64)
    return CausalTensor(shape, buckets, weights, sizes, residuals, src.what)


def rebuild_causal(tensors: list[CausalTensor]) -> list[np.ndarray]:
    """Model 6's decoder: the values of each tensor (flat int32), all tensors' wavefronts run
    together - front f of every tensor in one step, so the loop runs as often as the largest
    tensor needs (2H + W), not the sum, with a tensor's own buckets, weights and streams."""
    if not tensors:
        return []
    # every tensor's planes padded by a zero row above and a zero column each side, all laid
    # end to end: a value's neighbours are then fixed offsets (by its tensor's width) from it
    pos, front, owner, bases = [], [], [], [0]
    for k, t in enumerate(tensors):
        p, h, w = t.shape
        pw = w + 2
        order = wavefront_order(t.shape)
        y, x = order % (h * w) // w, order % w
        pos.append(bases[-1] + order // (h * w) * ((h + 1) * pw) + (y + 1) * pw + x + 1)
        front.append(2 * y + x)
        owner.append(np.full(order.size, k))
        bases.append(bases[-1] + p * (h + 1) * pw)
    flat = np.zeros(bases[-1], dtype=np.int64)
    front, owner, pos = np.concatenate(front), np.concatenate(owner), np.concatenate(pos)
    joint = np.lexsort((owner, front))          # by front, then tensor; stable within a tensor
    front, owner, pos = front[joint], owner[joint], pos[joint]
    pw = np.array([t.shape[2] + 2 for t in tensors])[owner]
    offsets = np.stack([-np.ones_like(pw), -pw, -pw - 1, -pw + 1])   # left, up, up-left, up-right
    bucket_counts = np.array([t.buckets for t in tensors])[owner]
    weights = np.stack([t.weights for t in tensors])[owner].T           # (4, n)
    # bucket b of tensor k is stream first[k] + b of all the tensors' streams
    first = np.concatenate([[0], np.cumsum([t.buckets for t in tensors])[:-1]])
    stream = first[owner]
    sizes = np.concatenate([t.sizes for t in tensors])
    residuals = np.concatenate([t.residuals for t in tensors])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    kinds = np.arange(sizes.size)
    used = np.zeros(sizes.size, dtype=np.int64)
    what = tensors[0].what
    begin = 0
    for end in np.searchsorted(front, np.arange(front[-1] + 1), side="right").tolist():
        at = pos[begin:end]
        near = flat[at + offsets[:, begin:end]]
        b = causal_buckets(near, bucket_counts[begin:end]) + stream[begin:end]
        seen = (b[:, None] == kinds).cumsum(axis=0)
        counts = seen[-1]
        used += counts
        if (used > sizes).any():
            raise SieddFormatError(f"{what}: context streams do not match their planes")
        values = residuals[(starts + used)[b] - counts[b] + seen[np.arange(len(b)), b] - 1]
        values += predictions(near, weights[:, begin:end])
        if np.abs(values).max() > MAX_MAGNITUDE:
            raise SieddFormatError(f"{what}: predicted values beyond +-{MAX_MAGNITUDE}")
        flat[at] = values
        begin = end
    out = []
    for k, t in enumerate(tensors):
        p, h, w = t.shape
        planes = flat[bases[k]:bases[k + 1]].reshape(p, h + 1, w + 2)
        out.append(planes[:, 1:, 1:w + 1].astype(np.int32).ravel())
    return out


def decode_symbols(src: ByteReader, count: int, shape: tuple[int, ...] | None = None
                   ) -> np.ndarray:
    """`count` symbols; `shape` (the tensor's) is needed by models 3-6 only."""
    out = read_symbols(src, count, shape)
    return rebuild_causal([out])[0] if isinstance(out, CausalTensor) else out


def read_symbols(src: ByteReader, count: int, shape: tuple[int, ...] | None = None
                 ) -> np.ndarray | CausalTensor:
    """decode_symbols, except that a model-6 tensor comes back read but not rebuilt, for
    rebuild_causal to rebuild with others (a group's in one loop)."""
    kind = src.u8()
    if kind in (PLANES, ROWS, DIFFERENCES, CAUSAL):
        shape = tuple(int(v) for v in shape) if shape is not None else ()
    if kind == CAUSAL:
        if len(shape) < 2 or int(np.prod(shape)) != count or count == 0:
            raise SieddFormatError(f"{src.what}: entropy model {kind} on a tensor of shape "
                                   f"{shape}")
        return _read_causal(src, (count // (shape[-2] * shape[-1]), *shape[-2:]))
    if kind in (PLANES, ROWS, DIFFERENCES):
        if kind == ROWS:
            usable = len(shape) >= 2 and count > shape[-1]
            planes = (count // shape[-1], 1, shape[-1]) if usable else ()
        else:
            usable = len(shape) == 3 and shape[0] >= 2
            planes = shape
        if not usable or int(np.prod(shape)) != count:
            raise SieddFormatError(f"{src.what}: entropy model {kind} on a tensor of shape "
                                   f"{shape}")
        out = _decode_planes(src, planes)
        if kind == DIFFERENCES:
            out = np.cumsum(out.reshape(planes[0], -1), axis=0, dtype=np.int64).ravel()
            if np.abs(out).max() > MAX_MAGNITUDE:
                raise SieddFormatError(f"{src.what}: plane differences add up beyond "
                                       f"+-{MAX_MAGNITUDE}")
            out = out.astype(np.int32)
        return out
    return _decode_flat(src, kind, count)


def _decode_flat(src: ByteReader, kind: int, count: int) -> np.ndarray:
    lo = unzigzag(read_varint(src))
    alphabet = read_varint(src) + 1
    if kind not in (HISTOGRAM, UNIFORM, LAPLACE) or alphabet > MAX_ALPHABET \
            or abs(lo) > MAX_MAGNITUDE or abs(lo + alphabet - 1) > MAX_MAGNITUDE:
        raise SieddFormatError(f"{src.what}: bad entropy model ({kind}, {alphabet} symbols)")
    param = None
    if kind == HISTOGRAM and alphabet > 1:
        param = _read_counts(src, alphabet, count)
    elif kind == LAPLACE:
        param = int.from_bytes(bytes(src.take(2)), "little")
        if not 1 <= param <= 65535:
            raise SieddFormatError(f"{src.what}: bad Laplace parameter {param}")
    return _read_stream(src, read_varint(src), kind, lo, alphabet, param, count)


def _decode_planes(src: ByteReader, shape: tuple[int, int, int]) -> np.ndarray:
    planes, h, w = shape
    buckets = _read_bucket_count(src)
    sizes = _read_bucket_sizes(src, buckets, (planes - 1) * h * w)
    out = np.empty((planes, h * w), dtype=np.int32)
    out[0] = _decode_flat(src, src.u8(), h * w)
    streams = _read_bucket_streams(src, sizes)
    used = np.zeros(buckets, dtype=np.int64)
    for t in range(1, planes):
        b = plane_buckets(out[t - 1].reshape(h, w), buckets).ravel()
        counts = np.bincount(b, minlength=buckets)
        if np.any(used + counts > sizes):
            raise SieddFormatError(f"{src.what}: context streams do not match their planes")
        order = np.argsort(b, kind="stable")
        out[t, order] = np.concatenate([streams[k][used[k]:used[k] + counts[k]]
                                        for k in range(buckets)])
        used += counts
    return out.ravel()


def _read_stream(src: ByteReader, n_words: int, kind: int, lo: int, alphabet: int, param,
                 count: int) -> np.ndarray:
    """The ANS words after a coded array's header, decoded to `count` symbols."""
    if n_words * 4 > src.remaining:
        raise SieddFormatError(f"{src.what}: ANS stream of {n_words} words runs past the data")
    words = src.array("u4", n_words)
    if alphabet == 1:
        return np.full(count, lo, dtype=np.int32)
    if n_words == 0:
        raise SieddFormatError(f"{src.what}: empty ANS stream")
    symbols = _decode_stream(src, words, _model(kind, lo, alphabet, param), count)
    return symbols.astype(np.int32) + np.int32(lo)


# -- format 1 (reading only) ---------------------------------------------------------------------
def decode_symbols_v1(src: ByteReader, count: int) -> np.ndarray:
    """Format 1: u8 model (0 histogram, 1 uniform), i32 sym_min, i32 sym_max, [varint counts],
    u32 n_words, u32 words[n_words]."""
    kind, lo, hi = src.unpack("Bii")
    alphabet = hi - lo + 1
    if kind not in (HISTOGRAM, UNIFORM) or not 1 <= alphabet <= MAX_ALPHABET:
        raise SieddFormatError(f"{src.what}: bad entropy model ({kind}, {alphabet} symbols)")
    counts = _read_counts(src, alphabet, count) if kind == HISTOGRAM else None
    return _read_stream(src, src.u32(), kind, lo, alphabet, counts, count)
