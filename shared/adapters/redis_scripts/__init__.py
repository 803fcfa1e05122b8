"""The Lua scripts of the Redis store (shared/adapters/redis_store.py), kept in `*.lua` files beside this module and
read once: each runs atomically on one node. versions.lua holds the functions that publish.lua, bump.lua and
finish.lua call; each of those scripts is sent as versions.lua followed by its own lines."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SCRIPTS_DIR = Path(__file__).parent


@cache
def script(name: str, directory: Path = SCRIPTS_DIR) -> str:
    """<directory>/<name>.lua without its comment and blank lines: EVAL sends a script's whole text every time."""
    lines = (directory / f"{name}.lua").read_text(encoding="utf-8").splitlines(keepends=True)
    # Each file's code starts on a line of its own, so one file's last line never runs into the next's first.
    return "\n" + "".join(line for line in lines if line.strip() and not line.lstrip().startswith("--"))


PUBLISH_LUA = script("versions") + script("publish")
BUMP_LUA = script("versions") + script("bump")
FINISH_LUA = script("versions") + script("finish")
REMOVE_UNCHANGED_LUA = script("remove_unchanged")
