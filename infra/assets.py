"""Function assets without Docker: the handler, shared/ and every dependency the runtime lacks, as locked.

The Lambda runs what the tests ran: every package of requirements.txt's closure goes into the asset at the
version requirements.lock pins (checked here), not from a layer whose contents float. Pure-Python packages
are copied from the installed environment; a compiled one (pydantic-core, wrapt) is unpacked from its
manylinux aarch64 wheel for the function's Python, which `python -m infra.assets` downloads into build/wheels
with the lock's hashes (`.ci/run` does it). So the synth itself needs no network and no Docker. Only boto3 and
what it needs come from the runtime, and Powertools from AWS's layer of the same version as the pin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from infra.config_functions import LAMBDA_PYTHON

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"
WHEELS_DIR = ROOT / "build" / "wheels"
LOCK_FILE = ROOT / "requirements.lock"
# In the Lambda Python runtime.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
# From AWS's Powertools layer, whose version is the pinned one (infra.config.POWERTOOLS_VERSION): the same code.
LAYER_PROVIDED = {"aws-lambda-powertools"}
_COMPILED = re.compile(r"\.(so|pyd|dylib)(\.|$)")
_PYTHON_TAG = "cp" + LAMBDA_PYTHON.removeprefix("python").replace(".", "")
_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64")


def _normalise(name: str) -> str:
    return str(canonicalize_name(name))


def pinned_requirements(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """name -> pinned version, from requirements.txt (every line must pin with ==)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"requirements.txt must pin with ==: {line}")
        pins[_normalise(requirement.name)] = specifiers[0].version
    return pins


def locked(path: Path = LOCK_FILE) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, its files' sha256 hashes), from requirements.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip().rstrip("\\").strip()
        if not line or line.startswith("#"):
            current = None if not raw.startswith(" ") else current
            continue
        if line.startswith("--hash=sha256:") and current is not None:
            entries[current][1].append(line.removeprefix("--hash=sha256:"))
        elif not raw.startswith(" "):
            name, _, version = line.split(";", 1)[0].partition("==")  # a marker follows "; ", if any
            current = _normalise(name)
            entries[current] = (version.strip(), [])
    return entries


def asset_distributions() -> list[metadata.Distribution]:
    """The closure of requirements.txt, extras included, minus what the runtime and the layer provide (the
    layer's own package still brings the packages of the extras asked of it: the X-Ray SDK of [tracer]),
    each checked against the lock."""
    lock = locked()
    seen: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    pending = [
        (_normalise(requirement.name), frozenset(requirement.extras))
        for requirement in (
            Requirement(line.split("#", 1)[0].strip())
            for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("#", 1)[0].strip()
        )
    ]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in visited or name in RUNTIME_PROVIDED:
            continue
        visited.add((name, extras))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(f"{name} is not installed: run bash .ci/run (it installs requirements.lock)") from None
        if name not in lock or distribution.version != lock[name][0]:
            pinned = lock[name][0] if name in lock else "nothing"
            raise RuntimeError(
                f"{name} {distribution.version} is installed but requirements.lock pins {pinned}: "
                "run bash .ci/run (or bin/lock after changing a requirements file)"
            )
        if name not in LAYER_PROVIDED:
            seen[name] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            environments = [{"extra": extra, "python_version": "3.14"} for extra in {"", *extras}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                pending.append((_normalise(requirement.name), frozenset(requirement.extras)))
    return sorted(seen.values(), key=lambda d: _normalise(d.metadata["Name"]))


def _compiled(distribution: metadata.Distribution) -> bool:
    return any(_COMPILED.search(Path(str(file)).name) for file in distribution.files or [])


def lambda_wheel(distribution: metadata.Distribution, wheels: Path = WHEELS_DIR) -> Path:
    """The downloaded manylinux aarch64 wheel of a compiled distribution, for the functions' Python."""
    name, version = _normalise(distribution.metadata["Name"]), distribution.version
    for wheel in sorted(wheels.glob("*.whl")) if wheels.is_dir() else []:
        wheel_name, wheel_version, _, tags = parse_wheel_filename(wheel.name)
        same = _normalise(wheel_name) == name and str(wheel_version) == version
        if same and any(tag.interpreter == _PYTHON_TAG and "aarch64" in tag.platform for tag in tags):
            return wheel
    raise RuntimeError(
        f"{name} {version} ships compiled code and build/wheels has no {_PYTHON_TAG} aarch64 wheel of it: "
        "run `.venv/bin/python -m infra.assets` (bash .ci/run does)"
    )


def fetch_lambda_wheels(wheels: Path = WHEELS_DIR) -> list[Path]:
    """Download, with the lock's hashes, the aarch64 wheel of every compiled package the functions ship."""
    lock = locked()
    wanted = [d for d in asset_distributions() if _compiled(d)]
    missing = []
    for distribution in wanted:
        try:
            lambda_wheel(distribution, wheels)
        except RuntimeError:
            missing.append(_normalise(distribution.metadata["Name"]))
    if missing:
        wheels.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as requirements:
            for name in missing:
                version, hashes = lock[name]
                requirements.write(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n")
        platforms = [argument for platform in _PLATFORMS for argument in ("--platform", platform)]
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"]
        command += ["--only-binary=:all:", *platforms, "--implementation", "cp", "--abi", _PYTHON_TAG]
        command += ["--python-version", LAMBDA_PYTHON.removeprefix("python"), "--require-hashes"]
        subprocess.run([*command, "--dest", str(wheels), "-r", requirements.name], check=True)
        Path(requirements.name).unlink()
    return [lambda_wheel(distribution, wheels) for distribution in wanted]


def build_function_asset(function_dir: str) -> Path:
    """Lay out one function's asset directory (content-addressed by CDK) and return it."""
    target = BUILD_DIR / function_dir
    if target.exists():
        shutil.rmtree(target)
    (target / "functions" / function_dir).mkdir(parents=True)
    (target / "functions" / "__init__.py").write_text("")
    for source in (ROOT / "functions" / function_dir).glob("*.py"):
        shutil.copy2(source, target / "functions" / function_dir / source.name)
    shutil.copytree(ROOT / "shared", target / "shared", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for distribution in asset_distributions():
        if _compiled(distribution):
            with zipfile.ZipFile(lambda_wheel(distribution)) as wheel:
                wheel.extractall(target)
            continue
        for file in distribution.files or []:
            path = Path(str(file))
            if path.parts[0] in ("..", "bin") or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            source_path = Path(str(file.locate()))
            if source_path.is_file():
                destination = target / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source_path, destination)
    return target


if __name__ == "__main__":
    for fetched in fetch_lambda_wheels():
        print(f"lambda wheel: {fetched.relative_to(ROOT)}")
