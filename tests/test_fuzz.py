"""The fault campaign's short run (tests/fuzzer.py; `make fuzz` runs the long one): damaged files
end as decoded frames or one clean error line, in the reader, the CLI, both FFmpeg filter forms
and the .siedd format (demuxer and decoder);
never an unclean exception, a crash, a hang or a runaway allocation."""
import fuzzer

CASES = 1500            # about 30 s on 2 cores
TOOL_SAMPLE = 5         # mutants also run through `siedd info`, `siedd decode`, the FFmpeg forms


def test_short_campaign_has_only_decoded_or_clean_cases():
    assert (fuzzer.ROOT / ".venv" / "bin" / "ffmpeg").exists(), "run make setup first"
    result = fuzzer.campaign(range(CASES), tools_every=CASES // TOOL_SAMPLE)
    failures = "\n".join(str(f) for f in result["failures"][:10])
    assert result["failure_count"] == 0, failures
    assert sum(result["reader"].values()) == CASES
    # the campaign reaches both ends: files that still decode and files that are refused
    assert result["reader"].get("decoded", 0) > CASES // 20
    assert result["reader"].get("clean", 0) > CASES // 2
    tools = result["tools"]
    for tool in ("info", "decode", "ffmpeg_source", "ffmpeg_filter", "ffmpeg_native"):
        assert sum(n for key, n in tools.items() if key.startswith(tool + " ")) == TOOL_SAMPLE


def test_mutants_are_reproducible():
    seeds = fuzzer.seed_files()
    assert fuzzer.mutant(1234, seeds) == fuzzer.mutant(1234, seeds)
    assert fuzzer.mutant(1234, seeds)[1] != fuzzer.mutant(1235, seeds)[1]
