"""rust-version in Cargo.toml must cover every dependency's, not be newer than the
toolchain CI runs, and be the toolchain .ci/run builds and tests with (`msrv=VERSION`,
`cargo "+$msrv" test`), so the declared MSRV is the one actually checked."""
import json
import re
import subprocess
import sys
from pathlib import Path

meta = json.loads(
    subprocess.check_output(["cargo", "metadata", "--locked", "--format-version", "1"])
)


def version(s):
    """(major, minor, patch), padded: `1.88` and `1.88.0` are the same version; a
    pre-release tail (`1.96.0-nightly`) is dropped."""
    parts = [int(re.match(r"\d*", x).group() or 0) for x in (s or "0").split(".")]
    return tuple((parts + [0, 0, 0])[:3])


assert version("1.88") == version("1.88.0") < version("1.88.1") < version("1.95")
assert version("1.96.0-nightly") == (1, 96, 0) and version(None) == (0, 0, 0)


def rustc(toolchain=None):
    cmd = ["rustc"] + ([f"+{toolchain}"] if toolchain else []) + ["--version"]
    return subprocess.check_output(cmd, text=True).split()[1]


ours = next(p for p in meta["packages"] if p["name"] == "leaktop")["rust_version"]
worst = max(meta["packages"], key=lambda p: version(p.get("rust_version")))
if version(worst["rust_version"]) > version(ours):
    sys.exit(f"{worst['name']} needs Rust {worst['rust_version']}; Cargo.toml says {ours}")
stable = rustc()
if version(stable)[:2] < version(ours)[:2]:
    sys.exit(f"rustc {stable} is older than rust-version {ours}")
# The MSRV toolchain itself: what `cargo +VERSION` runs must be that version.
try:
    msrv = rustc(ours)
except subprocess.CalledProcessError:
    sys.exit(f"no {ours} toolchain: rustup toolchain install {ours} --profile minimal")
if version(msrv)[:2] != version(ours)[:2]:
    sys.exit(f"rustc +{ours} is {msrv}, not rust-version {ours}")
ci = (Path(__file__).parent / "run").read_text()
built_with = re.search(r"^msrv=(\S+)$", ci, re.M)
if not built_with or version(built_with.group(1))[:2] != version(ours)[:2]:
    sys.exit(f".ci/run does not build with the MSRV toolchain: no `msrv={ours}`")
if 'cargo "+$msrv" test' not in ci:
    sys.exit('.ci/run does not build and test with the MSRV toolchain: no `cargo "+$msrv" test`')
print(
    f"rust-version {ours} covers every dependency (the newest needs {worst['rust_version']}); "
    f"checked with rustc {stable} and {msrv}"
)
