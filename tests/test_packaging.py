"""Packaging: the decoder installs without torch; export/ is not a bare top-level `export`."""
import importlib.metadata as md
import subprocess
from pathlib import Path
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


def test_wheel_contents(tmp_path):
    """The built wheel holds siedd_codec/ (with its graph dictionary) and siedd_export/ and
    nothing at top level else."""
    import zipfile
    import shutil
    root = Path(__file__).resolve().parents[1]
    src = tmp_path / "src"                       # build a copy: setuptools writes build/ in-tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, src / name)
    for name in ("siedd_codec", "export"):
        shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(src), "-w", str(tmp_path)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("siedd-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {"siedd_codec", "siedd_export"} <= tops
    assert "siedd_codec/graph_dictionary.bin" in names     # format 9.0's GENC needs it
    assert not {t for t in tops if not t.startswith(("siedd_codec", "siedd_export", "siedd-"))}
