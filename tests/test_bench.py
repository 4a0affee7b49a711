"""Smoke tests of the benchmark suite's parts (bench/), with real pieces: BD-rate on known
analytic cases, x264/x265 through PyAV on a few real frames, the README table from a small JSON."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bdrate  # noqa: E402


# -- BD-rate ---------------------------------------------------------------------------------
RATES = np.array([0.02, 0.05, 0.1, 0.2, 0.4])
PSNR = 30 + 6 * np.log2(RATES / 0.02) ** 0.9       # concave, increasing


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_constant_rate_ratio(method):
    # the test codec needs 25% fewer bits at every PSNR: BD-rate is exactly -25%
    r = bdrate.bd_rate(RATES, PSNR, 0.75 * RATES, PSNR, method)
    assert r["bd_rate"] == pytest.approx(-25.0, abs=1e-6)
    assert r["psnr_range"] == pytest.approx([PSNR.min(), PSNR.max()])
    # and the anchor against the test: +1/3
    back = bdrate.bd_rate(0.75 * RATES, PSNR, RATES, PSNR, method)
    assert back["bd_rate"] == pytest.approx(100 / 3, abs=1e-6)


def test_bd_rate_bound_where_one_curve_beats_the_other_everywhere():
    """No overlap in PSNR, test's cheapest point above the anchor's best: the bound is that
    point's rate against the anchor's mean log rate over its range (its middle, on a log-linear
    curve); no bound where the curves overlap or the test is the worse."""
    anchor_psnr = 28 + 3 * np.log2(RATES / 0.02)
    test_psnr = [anchor_psnr.max() + 0.5, anchor_psnr.max() + 2]
    bound = bdrate.bd_rate_bound(RATES, anchor_psnr, [0.005, 0.01], test_psnr)
    middle = 0.02 * 2 ** (((anchor_psnr.min() + anchor_psnr.max()) / 2 - 28) / 3)
    assert bound == pytest.approx((0.005 / middle - 1) * 100, abs=0.05)
    assert bdrate.bd_rate(RATES, anchor_psnr, [0.005, 0.01], test_psnr)["bd_rate"] is None
    assert bdrate.bd_rate_bound(RATES, anchor_psnr, RATES, anchor_psnr + 1) is None
    assert bdrate.bd_rate_bound(RATES, anchor_psnr, [0.5, 1.0], [20, 21]) is None


@pytest.mark.parametrize("method", bdrate.METHODS)
def test_bd_rate_and_psnr_of_a_shifted_log_linear_curve(method):
    # PSNR = a + b log2(rate): +1 dB at every rate <=> rate x 2^(-1/b) at every PSNR
    b = 5.0
    psnr = 28 + b * np.log2(RATES / 0.02)
    r = bdrate.bd_rate(RATES, psnr, RATES, psnr + 1.0, method)
    assert r["bd_rate"] == pytest.approx((2 ** (-1 / b) - 1) * 100, abs=1e-6)
    # the common PSNR range is the overlap: [anchor min + 1, anchor max]
    assert r["psnr_range"] == pytest.approx([psnr.min() + 1, psnr.max()])
    p = bdrate.bd_psnr(RATES, psnr, RATES, psnr + 1.0, method)
    assert p["bd_psnr"] == pytest.approx(1.0, abs=1e-6)


def test_cubic_fit_is_exact_for_a_cubic_and_pchip_close():
    # log10(rate) a cubic in PSNR; the test codec saves 10% (a constant log offset)
    q = np.linspace(30, 40, 6)
    t = (q - 35) / 5
    lr = -1.5 + 0.6 * t + 0.1 * t ** 2 + 0.05 * t ** 3
    anchor, test = 10 ** lr, 0.9 * 10 ** lr
    assert bdrate.bd_rate(anchor, q, test, q, "cubic")["bd_rate"] == pytest.approx(-10, abs=1e-6)
    assert bdrate.bd_rate(anchor, q, test, q, "pchip")["bd_rate"] == pytest.approx(-10, abs=1e-6)
    # a shape change: pchip and the cubic fit agree closely on smooth data
    test2 = 10 ** (lr - 0.05 * t)
    a = bdrate.bd_rate(anchor, q, test2, q, "cubic")["bd_rate"]
    b = bdrate.bd_rate(anchor, q, test2, q, "pchip")["bd_rate"]
    assert a == pytest.approx(b, abs=0.2)
    assert a == pytest.approx(0.0, abs=1.0)      # the mean of -0.05 t over symmetric t is 0


def test_bd_rate_without_overlap_or_points():
    far = bdrate.bd_rate(RATES, PSNR, RATES, PSNR + 100)
    assert far["bd_rate"] is None and "overlap" in far["reason"]
    few = bdrate.bd_rate(RATES, PSNR, [0.1], [35.0])
    assert few["bd_rate"] is None


def test_interpolation_helpers():
    psnr = 30 + 4 * np.log2(RATES / 0.02)
    assert bdrate.psnr_at_rate(RATES, psnr, 0.1) == pytest.approx(30 + 4 * np.log2(5), abs=1e-9)
    assert bdrate.rate_at_psnr(RATES, psnr, 34.0) == pytest.approx(0.04, rel=1e-9)
    assert bdrate.psnr_at_rate(RATES, psnr, 10.0) is None
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.0, 1.0, 1.0, 5.0])
    ys = bdrate.pchip_eval(x, y, np.linspace(0, 3, 301))
    assert np.all(np.diff(ys) >= -1e-12)         # monotone data -> monotone interpolant


# -- x264 / x265 baselines on real frames -----------------------------------------------------
@pytest.fixture(scope="module")
def bikes_frames():
    from siedd_codec.video_io import read_video
    path = ROOT / ".cache" / "siedd" / "clips" / "bikes.mp4"
    if not path.is_file():
        pytest.fail(f"{path} missing: run `make setup` (it fetches the test clips)")
    return read_video(path, frames=6, size=(128, 56)).frames


@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_baseline_codec_sane(bikes_frames, codec):
    from bench.baselines import encode_decode
    hi = encode_decode(bikes_frames, codec, 20)
    lo = encode_decode(bikes_frames, codec, 45)
    for r in (hi, lo):
        assert r["codec"] == codec and r["bytes"] > 0
        assert r["bytes_with_sei"] >= r["bytes"]
        assert r["bpp"] == pytest.approx(r["bytes"] * 8 / (6 * 128 * 56))
    # higher CRF: fewer bits, lower quality; both in plausible ranges for 4:4:4 coding
    assert lo["bpp"] < hi["bpp"] < 8
    assert 20 < lo["psnr"] < hi["psnr"]
    assert hi["psnr"] > 35


def test_colour_round_trip_ceiling(bikes_frames):
    from bench.baselines import conversion_ceiling_psnr
    # yuv444p full range: only 8-bit rounding is lost, far above any coded point
    assert conversion_ceiling_psnr(bikes_frames) > 44


def test_sei_counting():
    from bench.baselines import sei_bytes
    # H.264: SPS (type 7), SEI (type 6, 5 bytes + 4-byte start code), slice (type 5)
    stream = (b"\x00\x00\x00\x01\x67\x42\x00" + b"\x00\x00\x00\x01\x06\x05\x01\x02\x80"
              + b"\x00\x00\x01\x65\x88\x84")
    assert sei_bytes(stream, "x264") == 3 + 5
    # HEVC prefix SEI is type 39: header byte 39 << 1
    hevc = b"\x00\x00\x01\x40\x01\x0c" + b"\x00\x00\x01" + bytes([39 << 1, 1, 5, 1, 2]) \
        + b"\x00\x00\x01\x26\x01\xaf"
    assert sei_bytes(hevc, "x265") == 3 + 5


# -- report ----------------------------------------------------------------------------------
def _small_results(tmp_path: Path) -> Path:
    meta = {"scale": "cpu", "device": "cpu", "threads": 2,
            "machine": {"cpu": "Test CPU", "usable_cpus": 2, "ram_gib": 8.0, "gpu": None,
                        "cpu_flags": ["avx512f"]},
            "versions": {"torch": "2.x", "onnxruntime": "1.x", "ffmpeg": "8.x", "pyav": "18",
                         "siedd": "0.1.0", "git": "abc"}}
    x265 = [{"codec": "x265", "crf": c, "bpp": b, "psnr": q, "encode_seconds": 0.5}
            for c, b, q in ((46, 0.01, 31.0), (36, 0.03, 36.0), (26, 0.08, 41.0))]
    x264 = [{"codec": "x264", "crf": c, "bpp": b * 1.3, "psnr": q, "encode_seconds": 0.2}
            for c, b, q in ((46, 0.01, 31.0), (36, 0.03, 36.0), (26, 0.08, 41.0))]
    siedd = [{"label": "d64", "preset": {"hidden": 64}, "bpp": 0.04, "psnr": 30.5,
              "encode_seconds": 40.0, "x265_psnr_at_same_bpp": 37.5},
             {"label": "d128", "preset": {"hidden": 128}, "bpp": 0.12, "psnr": 32.4,
              "encode_seconds": 95.0, "x265_psnr_at_same_bpp": None}]
    clip = {"clip": "bikes", "width": 640, "height": 272, "frames": 40, "x264": x264,
            "x265": x265, "siedd": siedd, "conversion_ceiling_psnr": 47.9}
    from bench.rd import bd_summary
    clip["bd"] = bd_summary(clip)
    rd = {**meta, "section": "rd", "result": {"crfs": [26, 36, 46], "clips": [clip],
                                              "operating_points": [{"label": "d64", "preset": "tiny",
                                                                    "set": {"hidden": 64, "steps": 1000}}]}}
    run = {**meta, "started": "2026-01-01 00:00:00 UTC", "sections": {"rd": {"seconds": 100.0}}}
    peak = {**meta, "section": "peak", "settings": {"sizes": [1024]},
            "result": {"float32": {"gflops": 150.0}, "bfloat16": {"gflops": 900.0}}}
    for name, data in (("rd", rd), ("run", run), ("peak", peak)):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    return tmp_path


def test_report_markdown_table(tmp_path):
    from bench import report
    res_dir = _small_results(tmp_path)
    md = report.markdown(report.load(res_dir), res_dir)
    assert "| clip | size x frames | siedd point |" in md
    row = next(line for line in md.splitlines() if line.startswith("| bikes | 640x272 x 40 | d64"))
    assert "0.0400" in row and "30.50" in row and "37.50" in row
    assert "RGB" in md and "yuv444p" in md
    assert "float32 **150 GFLOP/s**" in md
    bd_row = next(line for line in md.splitlines() if line.startswith("| bikes | ") and "%" in line)
    assert "x265" not in bd_row           # a data row, not the header
    assert "Test CPU" in md


def test_report_writes_only_between_markers(tmp_path):
    from bench import report
    res_dir = _small_results(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\ntext\n")
    made = report.build(res_dir, readme=readme)
    text = readme.read_text()
    assert text.startswith("# title\n\ntext\n\n## Benchmarks\n\n<!-- bench:begin -->\n")
    assert text.rstrip().endswith("<!-- bench:end -->")
    assert (res_dir / "rd.png").is_file() and readme in made
    # a second build replaces the block, keeps what is around it
    readme.write_text(text.rstrip("\n") + "\n\nafter\n")
    report.build(res_dir, readme=readme)
    again = readme.read_text()
    assert again.count("<!-- bench:begin -->") == 1 and again.endswith("after\n")
    assert again.count("| bikes | 640x272 x 40 | d64") == 1
    assert "](rd.png)" in again              # plot links relative to the README


def test_summary_states_the_families_against_x265(tmp_path):
    """The README's first screen: bits for x265's PSNR from each family's BD-rate, encode
    seconds per frame from the same JSON, the GPU as not measured."""
    from bench import report
    res_dir = _small_results(tmp_path)
    res = report.load(res_dir)
    meta = {"machine": res["rd"]["machine"], "versions": res["rd"]["versions"], "date": "2026-01-01"}
    point = {"bpp": 0.05, "psnr": 30.0, "encode_seconds": 120.0}
    res["families"] = {**meta, "clips": [
        {"clip": "bikes", "size": [640, 272], "frames": 40, "grid": [point],
         "siedd": [{**point, "encode_seconds": 200.0}],
         "bd": {"grid_vs_x265": 200.0, "siedd_vs_x265": 400.0, "grid_vs_siedd": -40.0}}],
        "decode": [{"family": "grid", "label": "q50", "size": [640, 360], "fps": 31.0}]}
    md = report.summary_markdown(res)
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    assert "| 3.0x | 3.0 (1 thread) | 31 fps |" in rows["siedd `grid-tiny`"]
    assert "| 5.0x | 5.0 (1 thread) | - |" in rows["siedd `tiny` (SIEDD, d=48-128)"]
    assert "| 1x | 0.013 (2 threads) |" in rows["x265 medium"]     # 0.5 s for 40 frames
    assert "not measured here" in md and "Test CPU" in md
    readme = tmp_path / "README.md"
    readme.write_text("# t\n\n<!-- summary:begin -->\nold\n<!-- summary:end -->\n\nrest\n")
    report.write_readme_block(readme, md, report.SUMMARY_BEGIN, report.SUMMARY_END)
    text = readme.read_text()
    assert "old" not in text and "3.0x" in text and text.endswith("rest\n")


def _ablation_result() -> dict:
    """Two rows on one clip: 'new' needs 20% fewer bits than 'today' at every PSNR."""
    widths = [48, 96, 192]
    quality = [30.0, 33.0, 36.0]
    today = [{"width": w, "bpp": b, "psnr": q, "encode_seconds": 10.0 * w / 48,
              "decode_fps": 20.0, "last_frame_seconds": 0.1}
             for w, b, q in zip(widths, (0.03, 0.08, 0.25), quality)]
    new = [{**p, "bpp": p["bpp"] * 0.8, "encode_seconds": p["encode_seconds"] * 1.1}
           for p in today]
    clip = {"clip": "bikes", "size": [640, 272], "frames": 40,
            "x265": [{"crf": c, "bpp": b, "psnr": q}
                     for c, b, q in ((46, 0.005, 29.0), (36, 0.02, 35.0), (26, 0.06, 40.0))]}
    result = {"widths": widths, "base": {"preset": "tiny", "set": {"anchor_steps": 500,
                                                                     "steps": 1000}},
              "crfs": [26, 36, 46], "clips": [clip], "today": "today", "jobs": 2,
              "threads_per_job": 1,
              "rows": [{"key": "today", "label": "today", "points": {"bikes": today}},
                       {"key": "new", "label": "new", "points": {"bikes": new}}]}
    from bench.ablation import bd_table
    result["bd"] = bd_table(result)
    return result


def test_ablation_bd_table_and_report(tmp_path):
    from bench import ablation, report
    result = _ablation_result()
    assert result["bd"]["today"]["bikes"]["vs_today"] == pytest.approx(0.0, abs=1e-6)
    assert result["bd"]["new"]["bikes"]["vs_today"] == pytest.approx(-20.0, abs=0.01)
    assert result["bd"]["new"]["mean"]["vs_today"] == pytest.approx(-20.0, abs=0.01)
    assert result["bd"]["new"]["bikes"]["vs_x265"] > 0
    assert ablation.encode_time_ratio(result, "new") == pytest.approx(1.1)
    md = "\n".join(report.ablation_markdown(result))
    row = next(line for line in md.splitlines() if line.startswith("| new |"))
    assert "-20%" in row and "1.10x" in row
    meta = {"scale": "cpu", "machine": {"cpu": "Test CPU"}, "versions": {}}
    (tmp_path / "ablation.json").write_text(json.dumps({**meta, "section": "ablation",
                                                        "result": result}))
    from bench import plots
    made = plots.make_all(report.load(tmp_path), tmp_path)
    assert (tmp_path / "ablation.png") in made


def test_ablation_pairs_every_seed_of_the_default_with_every_seed_of_today():
    """The default's BD-rate against today for each pairing of seeds, on the widths both rows
    have, with their mean and range, and the report's table of them."""
    from bench import ablation, report
    result = _ablation_result()
    rows = {r["key"]: r for r in result["rows"]}
    today1 = [{**p, "bpp": p["bpp"] * 1.25} for p in rows["today"]["points"]["bikes"]]
    new1 = [{**p, "bpp": p["bpp"] * 0.6} for p in rows["today"]["points"]["bikes"][:2]]
    result["rows"] += [{"key": "today1", "label": "today, seed 1", "points": {"bikes": today1}},
                       {"key": "new1", "label": "new, seed 1", "points": {"bikes": new1}}]
    result["seeds"] = {"today": ["today", "today1"], "default": ["new", "new1"]}
    result["bd"] = ablation.bd_table(result)
    sp = ablation.seed_pairs(result)["bikes"]
    by = {(p["default"], p["today"]): p for p in sp["pairs"]}
    assert by["new", "today"]["bd_rate"] == pytest.approx(-20.0, abs=0.01)
    assert by["new", "today1"]["bd_rate"] == pytest.approx(-36.0, abs=0.01)   # 0.8 / 1.25
    assert by["new1", "today"]["bd_rate"] == pytest.approx(-40.0, abs=0.01)
    assert by["new1", "today"]["widths"] == [48, 96]                         # seed 1 ran two
    assert by["new1", "today1"]["bd_rate"] == pytest.approx(-52.0, abs=0.01)
    assert sp["mean"] == pytest.approx(-37.0, abs=0.01)
    assert (sp["min"], sp["max"]) == (pytest.approx(-52.0, abs=0.01), pytest.approx(-20.0, abs=0.01))
    result["seed_pairs"] = ablation.seed_pairs(result)
    md = "\n".join(report.ablation_markdown(result))
    line, = [l for l in md.splitlines() if l.startswith("| bikes | -20% | -36% | -40% | -52% |")]
    assert "**-37%**" in line and "-52% to -20%" in line
    assert ablation.seed_pairs(_ablation_result()) is None


def test_ablation_job_keys_tell_seeds_apart_and_keep_the_old_ones():
    """A row that repeats a configuration from another seed is its own job; a row without a
    seed keeps the key it always had (its cached results stay valid)."""
    from bench.ablation import _job_key
    import hashlib
    row, spec, base = {"key": "r", "set": {"rate_lambda": 0.664}}, {"clip": "bikes"}, {"preset": "tiny"}
    old = hashlib.sha256(json.dumps([None, row["set"], spec, 48, base], sort_keys=True)
                         .encode()).hexdigest()[:16]
    assert _job_key(row, spec, 48, base) == old
    assert _job_key({**row, "key": "renamed"}, spec, 48, base) == old
    assert _job_key({**row, "seed": 1}, spec, 48, base) != old


def test_ablation_measures_psnr_itself_and_reruns_jobs_measured_otherwise(tiny_encode, carphone):
    """Every ablation point's PSNR is this checkout's measurement of the decoded file (both
    definitions, the clip's MSE as "psnr"), whatever commit encoded it; a cached job without
    that measurement does not count as done."""
    from bench import ablation
    path, summary, _ = tiny_encode
    args = {"clip": str(carphone), "frames": summary["frames"], "size": None, "out": str(path),
            "threads": 1}
    psnr, mean_frames = ablation._measured_psnr(args)
    assert psnr == pytest.approx(summary["psnr"], abs=0.01)
    assert mean_frames == pytest.approx(summary["psnr_mean_frames"], abs=0.01)
    assert psnr != pytest.approx(mean_frames, abs=1e-3)        # the two really differ here
    old = {"bpp": 0.1, "psnr": 30.0}                             # an older run's point
    assert not ablation._measured(None, "clip_mse")
    assert not ablation._measured(old, "clip_mse") and not ablation._measured(old, "mean_frames")
    seeded = {**old, "psnr_mean_frames": 30.0}                    # its run measured so
    assert ablation._measured(seeded, "mean_frames") and not ablation._measured(seeded, "clip_mse")
    both = {"bpp": 0.1, "psnr": 29.8, "psnr_clip_mse": 29.8, "psnr_mean_frames": 30.2}
    assert ablation._as_defined(both, "mean_frames")["psnr"] == 30.2
    assert ablation._as_defined(both, "clip_mse")["psnr"] == 29.8


def test_grid_ablation_quality_points_rows_on_some_clips_and_the_summary(tmp_path):
    """The grid ablation: points are qualities (a preset field set per point), a row may run on
    some clips only, its report and plot say so, and the first screen takes grid-tiny's
    figures from its default row."""
    from bench import ablation, plots, report
    assert ablation._point_set({}, 64) == {"hidden": 64}
    assert ablation._point_set({"point_field": "rate_lambda", "point_values": {"50": 0.02}},
                               50) == {"rate_lambda": 0.02}
    result = _ablation_result()
    vtest = {**result["clips"][0], "clip": "vtest"}
    result["clips"].append(vtest)
    for row in result["rows"]:
        row["points"]["vtest"] = [dict(p) for p in row["points"]["bikes"]]
    cut = next(r for r in result["rows"] if r["key"] == "new")
    only = {"key": "cut", "label": "bikes only", "clips": ["bikes"],
            "points": {"bikes": [{**p, "bpp": p["bpp"] * 0.9} for p in cut["points"]["bikes"]]}}
    result["rows"].append(only)
    result.update(widths=[25, 50, 75], default="cut", name="grid_ablation")
    result["base"] = {"preset": "grid-tiny", "set": {}}
    result["bd"] = ablation.bd_table(result)
    result["rate_control"] = [{"clip": "bikes", "target_bpp": 0.02, "bpp": 0.0195,
                               "error_percent": -2.5, "rate_lambda": 0.031, "psnr": 33.0,
                               "encode_seconds": 100.0, "hidden": None}]
    assert "vtest" not in result["bd"]["cut"]
    assert result["bd"]["cut"]["mean"]["vs_today"] == pytest.approx(-28.0, abs=0.01)
    assert ablation.encode_time_ratio(result, "cut") == pytest.approx(1.1)
    md = "\n".join(report.grid_ablation_markdown(result))
    row = next(line for line in md.splitlines() if line.startswith("| bikes only |"))
    assert "| -28% | - |" in row and "--quality 25" in md
    # rate control: no width column, the family has none to choose
    assert "| bikes | 0.02 | 0.0195 | -2.5% | 0.031 | 33.00 dB |" in md
    # the PSNR note names the rows whose points came from runs that did not measure it here
    measured = {**result["rows"][0], "points": {"bikes": [
        {**p, "psnr_mean_frames": p["psnr"]} for p in result["rows"][0]["points"]["bikes"]]}}
    note = ablation._psnr_note("clip_mse", [measured, only])
    assert note.startswith(ablation.PSNR_NOTES["clip_mse"]) and "rows cut:" in note
    assert ablation._psnr_note("clip_mse", [measured]) == ablation.PSNR_NOTES["clip_mse"]
    meta = {"scale": "cpu", "machine": {"cpu": "Test CPU"}, "versions": {}, "date": "2026-01-02"}
    (tmp_path / "grid_ablation.json").write_text(json.dumps({**meta, "section": "grid_ablation",
                                                             "result": result}))
    res = report.load(tmp_path)
    assert (tmp_path / "grid_ablation.png") in plots.make_all(res, tmp_path)
    (tmp_path / "small").mkdir()
    res_dir = _small_results(tmp_path / "small")
    small = report.load(res_dir)
    point = {"bpp": 0.05, "psnr": 30.0, "encode_seconds": 120.0}
    small["families"] = {"machine": small["rd"]["machine"], "versions": {}, "clips": [
        {"clip": "bikes", "size": [640, 272], "frames": 40, "grid": [point],
         "siedd": [point], "bd": {"grid_vs_x265": 200.0, "siedd_vs_x265": 400.0}}]}
    small["grid_ablation"] = res["grid_ablation"]
    rows = {line.split("|")[1].strip(): line for line in report.summary_markdown(small).splitlines()
            if line.startswith("| siedd `grid-tiny`")}
    (name, line), = rows.items()
    bikes_vs_x265 = result["bd"]["cut"]["bikes"]["vs_x265"]
    assert "2026-01-02" in name and f"{1 + bikes_vs_x265 / 100:.1f}x" in line
    # a families run newer than the grid ablation is grid-tiny as it now is
    small["families"]["date"] = "2026-01-03"
    line, = [line for line in report.summary_markdown(small).splitlines()
             if line.startswith("| siedd `grid-tiny`")]
    assert line.startswith("| siedd `grid-tiny` | 3.0x |"), line


def test_families_bd_table_and_plot(tmp_path):
    """The families section's BD-rates and README table from a small result: a grid curve that
    needs half SIEDD's bits and twice x265's reads -50% and +100%."""
    from bench import families, plots, report
    x265 = [{"bpp": b, "psnr": 30 + 6 * np.log2(b / 0.01)} for b in (0.01, 0.02, 0.04, 0.08)]
    grid = [{"label": f"q{i}", "bpp": 2 * p["bpp"], "psnr": p["psnr"], "encode_seconds": 40.0}
            for i, p in enumerate(x265[1:])]
    siedd = [{"label": f"d{i}", "bpp": 4 * p["bpp"], "psnr": p["psnr"], "encode_seconds": 80.0}
             for i, p in enumerate(x265)]
    assert families._bd(x265, grid) == pytest.approx(100.0, abs=0.1)
    assert families._bd(siedd, grid) == pytest.approx(-50.0, abs=0.1)
    clip = {"clip": "bikes", "size": [64, 48], "frames": 20, "x265": x265, "siedd": siedd,
            "grid": grid, "variants": {}, "tiny_preset": None,
            "bd": {"grid_vs_x265": families._bd(x265, grid),
                   "siedd_vs_x265": families._bd(x265, siedd),
                   "grid_vs_siedd": families._bd(siedd, grid)}}
    result = {"clips": [clip], "decode": [{"family": "grid", "label": "q1", "size": [640, 360],
                                           "fps": 40.0, "macs_per_pixel": 500,
                                           "macs_per_pixel_amortized": 420}]}
    md = "\n".join(report.families_markdown({**result, "machine": {"cpu": "Test CPU"}}))
    row = next(line for line in md.splitlines() if line.startswith("| bikes |"))
    assert "+100%" in row and "-50%" in row and "2.0 | 4.0 |" in row
    assert "| grid | q1 | 640x360 | 40.0 | 500 | 420 |" in md
    meta = {"scale": "cpu", "machine": {"cpu": "Test CPU"}, "versions": {}}
    (tmp_path / "families.json").write_text(json.dumps({**meta, "section": "families",
                                                        "result": result}))
    made = plots.make_all(report.load(tmp_path), tmp_path)
    assert (tmp_path / "families.png") in made


def test_preset_costs_are_the_encode_sections():
    """siedd_codec/preset_costs.py (encode --help's table) is what the report makes from the
    committed encode.json: regenerated with it, never edited apart."""
    from bench import report
    from bench.common import ROOT
    made = report.preset_costs_module(report.load(ROOT / "bench" / "results"))
    assert made == report.COSTS_MODULE.read_text()
