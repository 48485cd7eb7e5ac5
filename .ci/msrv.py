"""rust-version in Cargo.toml must cover every dependency's and not be newer than the
toolchain CI runs, so the declared MSRV is the one actually checked."""
import json
import subprocess
import sys

meta = json.loads(
    subprocess.check_output(["cargo", "metadata", "--locked", "--format-version", "1"])
)


def version(s):
    """(major, minor, patch), padded: `1.88` and `1.88.0` are the same version."""
    parts = [int(x) for x in (s or "0").split(".")]
    return tuple((parts + [0, 0, 0])[:3])


assert version("1.88") == version("1.88.0") < version("1.88.1") < version("1.95")


ours = next(p for p in meta["packages"] if p["name"] == "leaktop")["rust_version"]
worst = max(meta["packages"], key=lambda p: version(p.get("rust_version")))
rustc = subprocess.check_output(["rustc", "--version"], text=True).split()[1]
if version(worst["rust_version"]) > version(ours):
    sys.exit(f"{worst['name']} needs Rust {worst['rust_version']}; Cargo.toml says {ours}")
if version(rustc)[:2] < version(ours)[:2]:
    sys.exit(f"rustc {rustc} is older than rust-version {ours}")
print(f"rust-version {ours} covers every dependency; checked with rustc {rustc}")
