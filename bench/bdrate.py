"""Bjontegaard delta rate (BD-rate) and delta PSNR (BD-PSNR) between two rate-distortion curves.

BD-rate: the mean difference of log rate at equal quality, over the PSNR interval both curves
cover, as a percentage: -20 means the test codec needs 20% fewer bits than the anchor for the
same PSNR on average. BD-PSNR: the mean PSNR difference at equal rate over the common log-rate
interval. Two interpolations of log10(rate) as a function of PSNR (and back):

- "pchip": piecewise cubic Hermite, monotone (Fritsch-Carlson slopes) - what current
  common test conditions use, well behaved with any number (>= 2) of points.
- "cubic": one least-squares cubic polynomial (Bjontegaard's VCEG-M33 original; degree lowered
  to n-1 for fewer than 4 points).

Written from the definitions; numpy only.
"""
from __future__ import annotations

import math

import numpy as np

METHODS = ("pchip", "cubic")


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson monotone slopes at the knots (x strictly increasing)."""
    h = np.diff(x)
    delta = np.diff(y) / h
    n = len(x)
    m = np.zeros(n)
    if n == 2:
        m[:] = delta[0]
        return m
    for k in range(1, n - 1):
        if delta[k - 1] * delta[k] <= 0:
            m[k] = 0.0
        else:  # weighted harmonic mean
            w1 = 2 * h[k] + h[k - 1]
            w2 = h[k] + 2 * h[k - 1]
            m[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])

    def end(h0, h1, d0, d1):
        s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if np.sign(s) != np.sign(d0):
            return 0.0
        if np.sign(d0) != np.sign(d1) and abs(s) > abs(3 * d0):
            return 3 * d0
        return s

    m[0] = end(h[0], h[1], delta[0], delta[1])
    m[-1] = end(h[-1], h[-2], delta[-1], delta[-2])
    return m


def pchip_eval(x: np.ndarray, y: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Monotone piecewise cubic Hermite interpolant through (x, y), evaluated at xs (inside)."""
    x, y, xs = (np.asarray(v, dtype=np.float64) for v in (x, y, xs))
    m = _pchip_slopes(x, y)
    k = np.clip(np.searchsorted(x, xs, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    t = (xs - x[k]) / h
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t * t * (3 - 2 * t)
    h11 = t * t * (t - 1)
    return h00 * y[k] + h10 * h * m[k] + h01 * y[k + 1] + h11 * h * m[k + 1]


def _prepare(rate, psnr, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, de-duplicated (by `key`: 'psnr' or 'rate') points with positive rate."""
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(psnr, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError("rate and psnr must be 1-D sequences of equal length")
    ok = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[ok], q[ok]
    lr = np.log10(r)
    x, y = (q, lr) if key == "psnr" else (lr, q)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    keep = np.concatenate([[True], np.diff(x) > 1e-12])
    return x[keep], y[keep]


def _mean_over(x, y, lo, hi, method: str, samples: int = 4001) -> float:
    """Mean of the interpolant of y(x) over [lo, hi]."""
    if method == "pchip":
        xs = np.linspace(lo, hi, samples)
        ys = pchip_eval(x, y, xs)
        # composite Simpson (samples is odd)
        hstep = (hi - lo) / (samples - 1)
        integral = hstep / 3 * (ys[0] + ys[-1] + 4 * ys[1:-1:2].sum() + 2 * ys[2:-1:2].sum())
        return float(integral / (hi - lo))
    if method == "cubic":
        deg = min(3, len(x) - 1)
        poly = np.polyint(np.polyfit(x, y, deg))
        return float((np.polyval(poly, hi) - np.polyval(poly, lo)) / (hi - lo))
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def _delta(anchor, test, key: str, method: str) -> tuple[float | None, tuple[float, float] | None,
                                                          str | None]:
    xa, ya = _prepare(*anchor, key=key)
    xt, yt = _prepare(*test, key=key)
    if len(xa) < 2 or len(xt) < 2:
        return None, None, "fewer than 2 usable points on a curve"
    lo, hi = max(xa[0], xt[0]), min(xa[-1], xt[-1])
    if not hi > lo:
        return None, None, "the curves do not overlap"
    return _mean_over(xt, yt, lo, hi, method) - _mean_over(xa, ya, lo, hi, method), (lo, hi), None


def bd_rate(anchor_rate, anchor_psnr, test_rate, test_psnr, method: str = "pchip") -> dict:
    """BD-rate of `test` against `anchor`, in percent (negative: test saves bits).

    Returns {"bd_rate": percent or None, "psnr_range": [lo, hi] (the common PSNR interval),
    "method": ..., "reason": why None, if so}. Rates may be bpp, bytes or kbit/s (only ratios
    count)."""
    d, rng, why = _delta((anchor_rate, anchor_psnr), (test_rate, test_psnr), "psnr", method)
    out = {"method": method, "bd_rate": None if d is None else (10.0 ** d - 1.0) * 100.0,
           "psnr_range": None if rng is None else [float(rng[0]), float(rng[1])]}
    if why:
        out["reason"] = why
    return out


def bd_rate_bound(anchor_rate, anchor_psnr, test_rate, test_psnr,
                  method: str = "pchip") -> float | None:
    """Where `test` is better everywhere and the curves do not overlap (its lowest-rate point
    reaches at least the anchor's highest PSNR): an upper bound on BD-rate over the anchor's
    PSNR range, in percent. A file that reaches PSNR p serves every quality below p, so test's
    rate anywhere in that range is at most its lowest-rate point's. None where that does not
    hold."""
    xa, ya = _prepare(anchor_rate, anchor_psnr, key="psnr")
    xt, yt = _prepare(test_rate, test_psnr, key="rate")
    if len(xa) < 2 or len(xt) < 1 or yt[0] < xa[-1]:
        return None
    return (10.0 ** (xt[0] - _mean_over(xa, ya, xa[0], xa[-1], method)) - 1.0) * 100.0


def bd_psnr(anchor_rate, anchor_psnr, test_rate, test_psnr, method: str = "pchip") -> dict:
    """BD-PSNR of `test` against `anchor`, in dB (positive: test is better at equal rate)."""
    d, rng, why = _delta((anchor_rate, anchor_psnr), (test_rate, test_psnr), "rate", method)
    out = {"method": method, "bd_psnr": d,
           "log10_rate_range": None if rng is None else [float(rng[0]), float(rng[1])]}
    if why:
        out["reason"] = why
    return out


def psnr_at_rate(rates, psnrs, rate: float) -> float | None:
    """PSNR of a curve at `rate` (pchip in log rate); None outside the curve's rate range."""
    x, y = _prepare(rates, psnrs, key="rate")
    if len(x) < 2 or rate <= 0:
        return None
    lr = math.log10(rate)
    if lr < x[0] - 1e-12 or lr > x[-1] + 1e-12:
        return None
    return float(pchip_eval(x, y, np.array([min(max(lr, x[0]), x[-1])]))[0])


def rate_at_psnr(rates, psnrs, psnr: float) -> float | None:
    """Rate of a curve at `psnr` (pchip in log rate); None outside the curve's PSNR range."""
    x, y = _prepare(rates, psnrs, key="psnr")
    if len(x) < 2 or psnr < x[0] - 1e-12 or psnr > x[-1] + 1e-12:
        return None
    return float(10.0 ** pchip_eval(x, y, np.array([min(max(psnr, x[0]), x[-1])]))[0])
