"""Packaging: the decoder installs without torch; export/ is not a bare top-level `export`."""
import importlib.metadata as md
import subprocess
import sys

from packaging.requirements import Requirement


def test_torch_is_only_an_encoder_extra():
    reqs = [Requirement(r) for r in md.requires("siedd")]
    base = {r.name for r in reqs if r.marker is None or "extra" not in str(r.marker)}
    assert "torch" not in base and "onnx" not in base
    assert {"numpy", "constriction", "av"} <= base
    assert {"onnxruntime", "onnxruntime-gpu"} & base
    encode = {r.name for r in reqs if r.marker is not None and 'extra == "encode"' in str(r.marker)}
    assert {"torch", "onnx"} <= encode
    torch_req = next(r for r in reqs if r.name == "torch")
    assert str(torch_req.specifier) == "==2.13.0"


def test_onnxruntime_flavours_are_exclusive():
    reqs = [Requirement(r) for r in md.requires("siedd")]
    env_linux = {"sys_platform": "linux", "platform_machine": "x86_64", "extra": ""}
    env_mac = {"sys_platform": "darwin", "platform_machine": "arm64", "extra": ""}
    for env, want in ((env_linux, "onnxruntime-gpu"), (env_mac, "onnxruntime")):
        picked = {r.name for r in reqs if r.name.startswith("onnxruntime") and r.marker.evaluate(env)}
        assert picked == {want}


def test_export_stage_is_namespaced(tmp_path):
    code = ("import importlib.util as u; "
            "print(u.find_spec('siedd_export') is not None, u.find_spec('export') is None)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["True", "True"]          # installed as siedd_export, never as `export`
    files = [str(f) for f in md.files("siedd") or []]
    assert not any(f.startswith("export/") or f == "export.py" for f in files)
