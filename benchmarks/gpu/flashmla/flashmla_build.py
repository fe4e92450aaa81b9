"""Builds FlashMLA's dense Hopper decode (binding.cpp around FlashMLA's own csrc/api/dense_decode.h) as a torch
extension, or loads one built before, for production.py.

Sources (no network on the GPU machine, so they travel in an ignored folder of the checkout, `carry`):
deepseek-ai/FlashMLA at 9241ae3 (csrc/, sm100, sparse and prefill left out) and CUTLASS at FlashMLA's pinned
submodule commit 147f5673 (include/ and tools/util/include/ only), packed as .flashmla/src.tgz:

    mkdir -p /tmp/fmla && cd /tmp/fmla
    git -C <FlashMLA mirror> archive 9241ae3 csrc/api csrc/defines.h csrc/params.h csrc/utils.h csrc/kerutils \
        csrc/sm90/decode/dense csrc/sm90/helpers.h csrc/smxx | tar x
    git -C <CUTLASS mirror> archive 147f5673d0c1c3dcf66f78d677fd647e4a020219 include tools/util/include \
        | tar x -C csrc --one-top-level=cutlass
    tar czf <repo>/.flashmla/src.tgz csrc
    python benchmarks/gpu/flashmla/flashmla_build.py --src /tmp/fmla --build /tmp/flashmla_build   # on the GPU machine

The three .cu files hold no torch code, so they may also be compiled ahead with nvcc 13.0 and the flags below
(`nvcc $NVCC_FLAGS -I... -Xcompiler -fPIC -c`; 2.5 minutes on 2 cores) and passed as `--objects`: then only
binding.cpp is compiled on the GPU machine. `flashmla()` tries, in order: a prebuilt .so, binding.cpp linked with
those objects, the whole build from sources (about 100 s on 16 cores: bf16.cu alone takes most of it).

nvcc flags: FlashMLA setup.py's, for sm_90a only (-gencode arch=compute_90a,code=sm_90a), fp16 left out. CUDA 13
keeps libcu++ under <CUDA_HOME>/include/cccl, which the host compiler needs for binding.cpp's CUDA headers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
NAME = "flashmla_dense"
FLASHMLA_COMMIT = "9241ae3"
CUTLASS_COMMIT = "147f5673d0c1c3dcf66f78d677fd647e4a020219"
SOURCES = (
    "smxx/decode/get_decoding_sched_meta/get_decoding_sched_meta.cu",
    "smxx/decode/combine/combine.cu",
    "sm90/decode/dense/instantiations/bf16.cu",
)
NVCC_FLAGS = [
    "-O3",
    "-std=c++20",
    "-DNDEBUG",
    "-D_USE_MATH_DEFINES",
    "-Wno-deprecated-declarations",
    "-U__CUDA_NO_HALF_OPERATORS__",
    "-U__CUDA_NO_HALF_CONVERSIONS__",
    "-U__CUDA_NO_HALF2_OPERATORS__",
    "-U__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "--expt-relaxed-constexpr",
    "--expt-extended-lambda",
    "--use_fast_math",
    "--ptxas-options=-v,--register-usage-level=10,--warn-on-spills,--warn-on-local-memory-usage",
    "-lineinfo",
    "-DFLASH_MLA_DISABLE_FP16",
    "-gencode",
    "arch=compute_90a,code=sm_90a",
]
CXX_FLAGS = ["-O3", "-std=c++20", "-DNDEBUG", "-Wno-deprecated-declarations", "-DFLASH_MLA_DISABLE_FP16"]


def includes(src: Path) -> list[str]:
    csrc = src / "csrc"
    return [str(p) for p in (csrc, csrc / "kerutils/include", csrc / "sm90", csrc / "cutlass/include",
                             csrc / "cutlass/tools/util/include")]  # fmt: skip


def build(src: Path, build_dir: Path, objects: list[Path] | None = None, verbose: bool = False) -> ModuleType:
    """Compile binding.cpp (and the three .cu files, unless `objects` holds them compiled) into `build_dir`."""
    from torch.utils.cpp_extension import CUDA_HOME, load

    os.environ.setdefault("MAX_JOBS", "16")
    build_dir.mkdir(parents=True, exist_ok=True)
    cccl = Path(CUDA_HOME or "/usr/local/cuda") / "include" / "cccl"
    sources = [str(HERE / "binding.cpp")]
    if not objects:
        sources += [str(src / "csrc" / s) for s in SOURCES]
    return load(
        name=NAME,
        sources=sources,
        extra_include_paths=includes(src),
        extra_cflags=[*CXX_FLAGS, f"-I{cccl}"],
        extra_cuda_cflags=NVCC_FLAGS,
        extra_ldflags=[str(Path(o).resolve()) for o in objects or []],  # the link runs in build_dir
        build_directory=str(build_dir),
        with_cuda=True,
        verbose=verbose,
    )


def load_prebuilt(path: Path) -> ModuleType:
    import torch  # noqa: F401  (the extension needs torch's libraries loaded first)

    spec = importlib.util.spec_from_file_location(NAME, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def flashmla(
    src: Path, build_dir: Path, prebuilt: Path | None = None, objects: list[Path] | None = None
) -> tuple[ModuleType | None, str]:
    """The extension and how it was had: a prebuilt .so if it loads, else binding.cpp linked with `objects`, else
    the whole build. (None, why) when nothing worked."""
    tries: list[str] = []
    if prebuilt is not None and prebuilt.is_file():
        try:
            return load_prebuilt(prebuilt), f"prebuilt {prebuilt.name}"
        except Exception as e:  # another image's libraries: rebuild
            tries.append(f"prebuilt: {type(e).__name__}: {e}")
    for objs in ([objects] if objects else []) + [None]:
        where = build_dir / ("objects" if objs else "full")
        try:
            module = build(src, where, objs)
            return module, "built " + ("binding.cpp + nvcc objects made ahead" if objs else "from sources")
        except Exception as e:
            traceback.print_exc()
            tries.append(f"{'objects' if objs else 'full'}: {type(e).__name__}: {str(e)[-300:]}")
    return None, "; ".join(tries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True, help="folder holding csrc/ (with csrc/cutlass)")
    parser.add_argument("--build", type=Path, required=True)
    parser.add_argument("--objects", type=Path, nargs="*", default=[])
    parser.add_argument("--copy-to", type=Path, help="copy the built .so here")
    args = parser.parse_args()
    module, how = flashmla(args.src, args.build, objects=args.objects)
    print(f"flashmla: {how}", flush=True)
    if module is not None and args.copy_to:
        shutil.copy(module.__file__, args.copy_to)


if __name__ == "__main__":
    main()
