"""Split constraints.txt into one pin list per Python version, and merge such lists back.

Used by scripts/lock only. constraints.txt holds one lock for every supported version: a
pin that is the same on all of them is a plain line (``httpx==0.28.1``); a pin that
differs carries an environment marker naming the versions it is for
(``numpy==2.2.6; python_version < "3.11"`` beside ``numpy==2.4.6; python_version >= "3.11"``),
so ``pip install -c constraints.txt`` picks the right line on each interpreter. Markers
only ever bound ``python_version`` at supported versions, open-ended at both ends, so a
newer Python than the highest supported one gets the newest pins.

    python scripts/_lock.py split constraints.txt 3.10 > pins-3.10.txt
    python scripts/_lock.py merge constraints.txt 3.10=pins-3.10.txt 3.11=pins-3.11.txt ...
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

HEADER = """\
# Pinned versions for CI, the demo and development, for every supported Python ({lowest} to
# {highest}): every install in scripts/ uses 'pip install -c constraints.txt', so a new upstream
# release cannot break a build overnight. A pin with a marker holds only on the versions it
# names; a release that dropped an older Python is pinned lower there.
# Regenerate with: scripts/lock (keeps these pins where they still resolve; --upgrade for
# the newest allowed)
"""


def pins_for(lock: str, version: str) -> dict[str, str]:
    """The ``name -> version`` pins of ``lock`` (constraints.txt text) that hold on ``version``."""
    environment = {"python_version": version, "python_full_version": f"{version}.0"}
    pins: dict[str, str] = {}
    for line in lock.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        (specifier,) = requirement.specifier
        if specifier.operator != "==":
            raise ValueError(f"constraints.txt: {line!r} is not an exact pin")
        name = canonicalize_name(requirement.name)
        if name in pins:
            raise ValueError(f"constraints.txt: {name} is pinned twice for Python {version}")
        pins[name] = specifier.version
    return pins


def merge(locks: dict[str, dict[str, str]]) -> str:
    """One constraints file from per-version pins (``{"3.10": {"numpy": "2.2.6"}, ...}``)."""
    versions = sorted(locks, key=Version)
    names = sorted({name for pins in locks.values() for name in pins})
    lines: list[str] = []
    for name in names:
        pinned = [locks[v].get(name) for v in versions]
        start = 0
        while start < len(versions):
            pin = pinned[start]
            end = start
            while end + 1 < len(versions) and pinned[end + 1] == pin:
                end += 1
            if pin is not None:
                bounds = []
                if start > 0:
                    bounds.append(f'python_version >= "{versions[start]}"')
                if end + 1 < len(versions):
                    bounds.append(f'python_version < "{versions[end + 1]}"')
                marker = " and ".join(bounds)
                lines.append(f"{name}=={pin}; {marker}" if marker else f"{name}=={pin}")
            start = end + 1
    header = HEADER.format(lowest=versions[0], highest=versions[-1])
    text = header + "\n".join(lines) + "\n"
    for version in versions:  # the file must give back exactly what it was given
        if pins_for(text, version) != locks[version]:
            raise AssertionError(f"the merged lock does not hold Python {version}'s pins")
    return text


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "split":
        pins = pins_for(Path(argv[1]).read_text(encoding="utf-8"), argv[2])
        sys.stdout.write("".join(f"{name}=={pin}\n" for name, pin in pins.items()))
        return 0
    if len(argv) >= 3 and argv[0] == "merge":
        locks: dict[str, dict[str, str]] = {}
        for item in argv[2:]:
            version, _, path = item.partition("=")
            if not re.fullmatch(r"3\.\d+", version) or not path:
                raise SystemExit(f"expected VERSION=FILE, got {item!r}")
            locks[version] = pins_for(Path(path).read_text(encoding="utf-8"), version)
        Path(argv[1]).write_text(merge(locks), encoding="utf-8")
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
