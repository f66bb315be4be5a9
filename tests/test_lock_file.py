"""requirements.lock pins every dependency pyproject.toml declares (and the dev extra) at a
version its bound allows, with sha256 hashes (README "Dependencies and the lock file")."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def locked() -> dict[str, tuple[Version, list[str]]]:
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", line)
        if m:
            hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", line)
            pins[canonicalize_name(m[1])] = (Version(m[2].rstrip(" ;")), hashes)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]] + [
        Requirement(r) for r in project["optional-dependencies"]["dev"]
    ]


def test_every_dependency_is_pinned_within_its_bound_with_hashes():
    pins = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements.lock: run `make lock`"
        version, hashes = pins[name]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside {req}: run `make lock`"
        )
        assert hashes, f"{req.name} has no hash in requirements.lock"


def test_every_pin_is_exact_and_hashed():
    text = (ROOT / "requirements.lock").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.match(r"[A-Za-z0-9._-]+==\S+", line), line
            assert "--hash=sha256:" in line, line
