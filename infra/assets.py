"""Function assets without Docker: the handler, shared/ and the pure-Python dependencies the runtime lacks.

Dependencies are copied from the installed environment (pinned by requirements.txt), so the synth needs
no network. The Python runtime brings boto3; AWS's Powertools layer brings Powertools, pydantic (with its
compiled core for the layer's architecture) and the X-Ray SDK. Anything else must be pure Python: a
compiled file in the closure stops the synth, because it would be built for this machine, not arm64.
"""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "lambda"
# In the Lambda Python runtime.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
# In AWS's Powertools for AWS Lambda (Python) v3 layer (all extras), built for the function's architecture.
LAYER_PROVIDED = {
    "aws-lambda-powertools",
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "aws-xray-sdk",
    "wrapt",
    "typing-inspection",
}
_COMPILED = re.compile(r"\.(so|pyd|dylib)(\.|$)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


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


def asset_distributions() -> list[metadata.Distribution]:
    """The closure of requirements.txt minus what the runtime and the layer provide, checked against the pins."""
    pins = pinned_requirements()
    seen: dict[str, metadata.Distribution] = {}
    pending = list(pins)
    while pending:
        name = pending.pop()
        if name in seen or name in RUNTIME_PROVIDED or name in LAYER_PROVIDED:
            continue
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise RuntimeError(f"{name} is not installed: run pip install -r requirements-dev.txt") from None
        if name in pins and distribution.version != pins[name]:
            raise RuntimeError(
                f"{name} {distribution.version} is installed but requirements.txt pins "
                f"{pins[name]}: run pip install -r requirements-dev.txt"
            )
        seen[name] = distribution
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_normalise(requirement.name))
    return sorted(seen.values(), key=lambda d: _normalise(d.metadata["Name"]))


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
        for file in distribution.files or []:
            path = Path(str(file))
            if path.parts[0] in ("..", "bin") or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            if _COMPILED.search(path.name):
                raise RuntimeError(
                    f"{distribution.metadata['Name']} ships compiled code ({path}); it cannot "
                    "go into an arm64 asset built on this machine"
                )
            source_path = Path(str(file.locate()))
            if source_path.is_file():
                destination = target / path
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source_path, destination)
    return target
