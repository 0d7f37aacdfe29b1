"""Empty stand-ins for the big NVIDIA libraries that the CUDA build of torch links against.

The torch wheel here is a CUDA build: libtorch_cpu/libtorch_cuda name libcublas, libcufft, libnccl...
as NEEDED, so the dynamic loader refuses to load torch without files of those names, even on a
machine that only ever runs on the CPU. Those libraries weigh ~2.5 GB. A stub with the same SONAME,
the same symbol-version nodes, and every symbol torch imports from the real library (each a function
returning 1, an error status for the CUDA APIs; some are bound at load time through function-pointer
relocations) satisfies the loader. Nothing in them runs as long as CUDA stays off: the bundle's
runtime hook hides every GPU. The small libraries torch calls while importing (cudart, cupti,
cufile, the cudnn loader) stay real.

Usage: python cuda_stubs.py OUT_DIR   (needs the real nvidia-* wheels installed, gcc and readelf)
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# SONAMEs replaced by stubs (real sizes: cublasLt 540 MB, cufft 290 MB, nccl 250 MB, cusparseLt 230 MB...).
STUBBED = ("libcublas.so.13", "libcublasLt.so.13", "libcufft.so.12", "libcurand.so.10", "libcusparse.so.12",
           "libcusparseLt.so.0", "libnccl.so.2", "libnvrtc.so.13", "libnvshmem_host.so.3", "libcusolver.so.12")


def _site_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("torch")
    assert spec is not None and spec.origin is not None, "torch is not installed"
    return Path(spec.origin).parent.parent


def _dyn_syms(lib: Path) -> list[list[str]]:
    text = subprocess.run(["readelf", "--dyn-syms", "-W", str(lib)], capture_output=True, text=True,
                          check=True).stdout
    return [p for p in (line.split() for line in text.splitlines()) if len(p) >= 8 and p[0].endswith(":")]


def imported_names(libs: list[Path]) -> set[str]:
    """Names (version stripped) of every undefined symbol the given libraries import."""
    return {p[7].split("@")[0] for lib in libs for p in _dyn_syms(lib) if p[6] == "UND"}


def exported(real: Path) -> dict[str, str]:
    """{symbol: version node ('' if none)} defined by the real library."""
    out = {}
    for p in _dyn_syms(real):
        if p[6] != "UND" and p[3] in ("FUNC", "OBJECT", "IFUNC") and p[4] in ("GLOBAL", "WEAK"):
            name, _, ver = p[7].partition("@")
            out[name] = ver.lstrip("@")
    return out


def required_versions(libs: list[Path]) -> dict[str, set[str]]:
    """{SONAME: version nodes} the given libraries require from it (readelf -V's 'Version needs')."""
    need: dict[str, set[str]] = {}
    for lib in libs:
        text = subprocess.run(["readelf", "-V", "-W", str(lib)], capture_output=True, text=True, check=True).stdout
        current = None
        for line in text.split("Version needs section", 1)[-1].splitlines():
            m = re.search(r"File: (\S+)", line)
            if m:
                current = m.group(1)
            m = re.search(r"Name: (\S+)", line)
            if m and current:
                need.setdefault(current, set()).add(m.group(1))
    return need


def version_script(syms: dict[str, str], required: set[str]) -> str:
    """One node per version (the first also hides everything else); unversioned symbols join the
    first node, or an anonymous node when the real library has no versions at all."""
    nodes = sorted({v for v in syms.values() if v} | required)
    if not nodes:
        names = " ".join(f"{n};" for n in sorted(syms))
        return f"{{ {'global: ' + names if names else ''} local: *; }};\n"
    groups: dict[str, list[str]] = {v: [] for v in nodes}
    for n, v in syms.items():
        groups[v or nodes[0]].append(n)
    lines = []
    for i, v in enumerate(nodes):
        names = " ".join(f"{n};" for n in sorted(groups[v]))
        body = (f"global: {names}" if names else "") + (" local: *;" if i == 0 else "")
        lines.append(f"{v} {{ {body} }};")
    return "\n".join(lines) + "\n"


def build_stub(real: Path, wanted: set[str], required: set[str], out: Path) -> Path:
    """gcc -shared: same SONAME and version nodes as ``real``, the ``wanted`` symbols as functions."""
    soname = real.name
    syms = {n: v for n, v in exported(real).items() if n in wanted}
    src, script = out / f"{soname}.c", out / f"{soname}.map"
    src.write_text("".join(f"int {n}(void) {{ return 1; }}\n" for n in sorted(syms)) or "int l2r_stub;\n",
                   encoding="utf-8")
    script.write_text(version_script(syms, required), encoding="utf-8")
    target = out / soname
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(target), str(src), f"-Wl,-soname,{soname}",
                    f"-Wl,--version-script={script}"], check=True)
    src.unlink()
    script.unlink()
    return target


def main(out_dir: str) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site = _site_dir()
    libs = sorted((site / "torch" / "lib").glob("*.so*"))
    wanted, required = imported_names(libs), required_versions(libs)
    for soname in STUBBED:
        found = sorted((site / "nvidia").rglob(soname))
        if not found:
            sys.exit(f"cuda_stubs: {soname} not found under {site / 'nvidia'}")
        print(build_stub(found[0], wanted, required.get(soname, set()), out).name)


if __name__ == "__main__":
    main(sys.argv[1])
