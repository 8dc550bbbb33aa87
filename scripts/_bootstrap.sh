# Sourced by scripts/demo and scripts/test: make a venv inside the clone and install the
# project with the extras asked for, pinned by constraints.txt (whose markers pick the pins
# of the interpreter's version). Re-running is cheap: nothing is reinstalled while
# pyproject.toml, constraints.txt and the extras are unchanged.
# The interpreter is $PYTHON (default python3); with PYTHON set, the venv is .venv-3.X (one
# per version, so PYTHON=python3.10 never reuses the default .venv), else .venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source "$root/scripts/_pythons.sh"
extras="$1"
python="$(find_python "${PYTHON:-python3}")"
if [ -z "$python" ]; then
  echo "== ${PYTHON:-python3}: no runnable interpreter of that name (on PATH or in pyenv)" >&2
  exit 1
fi
if [ -n "${PYTHON:-}" ] && [ "$python" != "$(command -v "$PYTHON" 2>/dev/null || true)" ]; then
  echo "== $PYTHON does not run from PATH; using $python"
fi
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ -n "${PYTHON:-}" ]; then
  venv="$root/.venv-$version"
else
  venv="$root/.venv"
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
venv_version="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [ "$venv_version" != "$version" ]; then
  echo "== $venv has Python $venv_version, not $version: remove it" >&2
  exit 1
fi
stamp="$venv/.installed-$extras"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== installing nugen-integrations[$extras] on Python $version (pinned by constraints.txt)"
  # Some machines' pip configuration names package folders that do not exist; pip warns
  # about each one on every install. Those lines (only those) are dropped.
  quiet_pip() {
    "$venv/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)
  }
  quiet_pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
  quiet_pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
