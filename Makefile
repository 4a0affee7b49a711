# siedd: `make setup` builds everything into .venv (idempotent), `make test` runs the suite,
# `make demo` encodes and decodes a real clip, `make bench` runs the benchmark suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE := .cache/siedd
INSTALLED := $(VENV)/.siedd-installed
CLIPS := $(CACHE)/clips/.fetched

.PHONY: setup venv clips test demo bench fuzz clean

setup: venv clips ffmpeg

venv: $(INSTALLED)

# torch first, pinned: that exact version is a CPU wheel on CI's machine (a CUDA one on GPU hosts).
$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PY) -m pip install -q --disable-pip-version-check -e '.[encode,ffmpeg,bench,dev]' 2>&1 | grep -v "is ignored" || true
	$(PY) -c "import torch, onnx, onnxruntime, av, constriction, cffi, siedd_codec, siedd_export"
	touch $@

clips: $(CLIPS)

$(CLIPS): scripts/fetch_clips.sh
	bash scripts/fetch_clips.sh $(CACHE)
	touch $@

# FFmpeg 5.1, full (every native component, the Debian codec libraries, GPL), with siedd's filters,
# demuxer and decoder (ffmpeg_filter/): libsiedd.so, the decoder as a C library, in .venv/lib;
# ffmpeg and ffprobe linked to it in .venv/bin; the FFmpeg tree in build/ffmpeg.
.PHONY: ffmpeg
SIEDD_LIB := $(VENV)/lib/libsiedd.so
FFMPEG := $(VENV)/bin/ffmpeg

ffmpeg: $(FFMPEG)

$(SIEDD_LIB): ffmpeg_filter/build_lib.py ffmpeg_filter/siedd.h | $(INSTALLED)
	$(PY) ffmpeg_filter/build_lib.py $(VENV)/lib

FFMPEG_SOURCES := $(addprefix ffmpeg_filter/,vf_siedd.c siedddec.c libsiedddec.c siedd.h \
                    patch_ffmpeg.py build_ffmpeg.sh)

$(FFMPEG): $(SIEDD_LIB) $(FFMPEG_SOURCES)
	bash ffmpeg_filter/build_ffmpeg.sh $(VENV) build/ffmpeg
	touch $@

test: setup
	$(PY) -m pytest -q

demo: setup
	bash scripts/demo.sh

# The benchmark suite (bench/run.py): the CPU suite by default, results in bench/results/, plots
# and the README table regenerated. BENCH_ARGS="--quick" for a smoke run, "--scale gpu" on CUDA.
BENCH_ARGS ?=
bench: venv clips
	$(PY) bench/run.py $(BENCH_ARGS)

# The fault campaign's long run (tests/fuzzer.py): FUZZ_CASES mutants through the reader, a sample
# through the CLI and both FFmpeg forms; counts in bench/results/fuzz.json and the README's table.
# Non-zero exit on any case that is not decoded or a clean error.
FUZZ_CASES ?= 100000
FUZZ_TOOLS ?= 200
fuzz: setup
	$(PY) tests/fuzzer.py --cases $(FUZZ_CASES) --tools $(FUZZ_TOOLS) --json bench/results/fuzz.json
	$(PY) bench/report.py --no-plots

clean:
	rm -rf $(VENV) $(CACHE) build out
