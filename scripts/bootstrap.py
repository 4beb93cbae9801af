"""Set up and run the wire from a fresh clone with nothing but Python 3.11+.

    python3 scripts/bootstrap.py dev    # install, then start the whole wire (newswire dev)
    python3 scripts/bootstrap.py test   # install, then lint, type-check and run the tests

Everything goes into ``.venv`` beside this repository's pyproject.toml; re-running is cheap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True)


def install(extra: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - run by whatever python3 the machine has
        sys.exit(f"Newswire needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f".{extra}")


def test(pytest_args: list[str]) -> int:
    install("[test,semantic,bench]")  # the semantic and bench extras too, so their tests run rather than skip
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "mypy")
    code = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT).returncode
    if code == 5:
        print("pytest collected no tests: that is a failure here", file=sys.stderr)
        return 1
    return code


def dev(args: list[str]) -> int:
    install("")
    os.execv(str(BIN / "newswire"), [str(BIN / "newswire"), "dev", *args])
    return 0  # not reached


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("dev", "test"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    try:
        return test(rest) if command == "test" else dev(rest)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1


if __name__ == "__main__":
    sys.exit(main())
