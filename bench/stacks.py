"""Where a service's time went, from the py-spy stacks that ``python -m bench --profile DIR`` records.

    python -m bench.stacks DIR/push-enrich.txt [--top 30] [--match services/]

Each line of a raw py-spy file is one stack (frames from the outside in, ``;`` between them) and
how many samples ended in it. This prints, for the functions of the busiest stacks, the share of
all samples that had the function anywhere on the stack (inclusive: it or what it called was
running) and the share that ended in it (self). Threads that were only waiting (a logging queue
listener, say) are left out, so the shares are of the time the process was working. ``--match``
keeps only the functions whose file path contains the text (``services/``: the wire's own code).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*):\d+\)$")
# stacks that only wait: a thread parked on a queue or a condition is sampled but does no work
_WAITING = ("QueueListener._monitor",)


@dataclass(frozen=True)
class Share:
    function: str
    inclusive: float
    own: float


def function_of(frame: str) -> tuple[str, str]:
    """``("name (file)", path)`` of one py-spy frame (``name (path:line)``); a frame without a path is its own name."""
    found = _FRAME.match(frame)
    if found is None:
        return frame, ""
    path = found["path"]
    return f"{found['name']} ({path.rsplit('site-packages/', 1)[-1]})", path


def shares(lines: Iterable[str], match: str = "") -> tuple[int, list[Share]]:
    """All working samples, and each function's inclusive and own share of them, busiest first."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    paths: dict[str, str] = {}
    total = 0
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit() or any(w in stack for w in _WAITING):
            continue
        samples = int(count)
        total += samples
        functions = [function_of(frame) for frame in stack.split(";")]
        for name, path in functions:
            paths.setdefault(name, path)
        for name in {name for name, _ in functions}:
            inclusive[name] += samples
        own[functions[-1][0]] += samples
    if not total:
        return 0, []
    found = [Share(name, n / total, own[name] / total) for name, n in inclusive.items() if match in paths[name]]
    found.sort(key=lambda s: (-s.inclusive, -s.own, s.function))
    return total, found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path, help="a raw py-spy file written by python -m bench --profile DIR")
    parser.add_argument("--top", type=int, default=30, help="how many functions to print")
    parser.add_argument("--match", default="", help="only functions whose file path contains this text")
    args = parser.parse_args(argv)
    with args.profile.open(encoding="utf-8") as f:
        total, found = shares(f, args.match)
    if not total:
        print(f"{args.profile}: no samples")
        return 1
    print(f"{args.profile}: {total:,} working samples; inclusive and own share of them")
    for share in found[: args.top]:
        print(f"{share.inclusive:6.1%} {share.own:6.1%}  {share.function}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
