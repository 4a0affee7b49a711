"""Build libsiedd.so: the C API of siedd.h over siedd_codec.capi, with cffi's embedding mode.

    .venv/bin/python ffmpeg_filter/build_lib.py OUTPUT_DIR

Run it with the project's virtual-environment Python: the library records that interpreter's
path and, when loaded into a program that has no Python yet, makes the embedded interpreter
start as that one (Py_SetProgramName in a constructor), so it finds the venv's site-packages
whatever PATH holds. It links libpython with an rpath to it, so the loader never picks another
libpython of the same version."""
from __future__ import annotations

import os
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
HEADER = HERE / "siedd.h"
MODULE = "_siedd_cffi"
LIBNAME = "siedd"

INIT_CODE = f"""
from {MODULE} import ffi
import siedd_codec.capi
siedd_codec.capi.install(ffi)
"""

# C part compiled into the library: finds the venv before the embedded Python starts.
C_SOURCE = r"""
#include <Python.h>
#include "siedd.h"

static void __attribute__((constructor)) siedd_choose_python(void)
{
    static wchar_t *program;
    if (Py_IsInitialized())
        return;
    program = Py_DecodeLocale(SIEDD_VENV_PYTHON, NULL);
    if (program) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        Py_SetProgramName(program);     /* deprecated in 3.11, still the simplest way */
#pragma GCC diagnostic pop
    }
}
"""


def header_declarations() -> str:
    text = HEADER.read_text()
    match = re.search(r"cffi-begin[^\n]*\n(.*?)/\* --- cffi-end", text, re.S)
    if not match:
        raise SystemExit(f"{HEADER}: no cffi-begin / cffi-end markers")
    return match.group(1)


def header_constants() -> dict[str, int]:
    return {name: int(value, 0) for name, value in
            re.findall(r"#define\s+(SIEDD_\w+)\s+(-?(?:0x[0-9a-fA-F]+|\d+))", HEADER.read_text())}


def check_constants() -> None:
    """siedd.h and siedd_codec.capi must agree on every number."""
    from siedd_codec import capi
    constants = header_constants()
    mismatched = []
    for name, value in constants.items():
        attr = name[len("SIEDD_"):]
        if getattr(capi, attr, None) != value:
            mismatched.append(f"{name}={value} but capi.{attr}={getattr(capi, attr, None)}")
    if mismatched:
        raise SystemExit("siedd.h and siedd_codec/capi.py disagree: " + "; ".join(mismatched))


def build(out_dir: Path) -> Path:
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise SystemExit(f"{sys.executable} is not a shared-library build of Python: "
                         "cffi's embedding mode needs libpython")
    check_constants()
    libdir = sysconfig.get_config_var("LIBDIR")
    venv_python = os.path.abspath(sys.executable)     # the venv's own path, not its target
    ffi = cffi.FFI()
    ffi.embedding_api(header_declarations())
    ffi.set_source(
        MODULE, C_SOURCE,
        include_dirs=[str(HERE)],
        define_macros=[("SIEDD_VENV_PYTHON", '"' + venv_python.replace('"', '\\"') + '"')],
        extra_compile_args=["-O2"],
        extra_link_args=[f"-Wl,-rpath,{libdir}", f"-Wl,-soname,lib{LIBNAME}.so"],
    )
    ffi.embedding_init_code(INIT_CODE)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"lib{LIBNAME}.so"
    with tempfile.TemporaryDirectory(prefix="siedd-cffi-") as tmp:
        built = ffi.compile(tmpdir=tmp, target=f"lib{LIBNAME}.*", verbose=False)
        partial = target.with_suffix(".so.partial")
        shutil.copyfile(built, partial)
        os.chmod(partial, 0o755)
        os.replace(partial, target)       # never a half-written library where ffmpeg looks
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    target = build(Path(argv[1]).resolve())
    print(f"built {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
