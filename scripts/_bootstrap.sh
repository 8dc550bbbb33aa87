# Sourced by scripts/demo and scripts/test: make .venv inside the clone and install the
# project with the extras asked for, from the pinned constraints.txt. Re-running is cheap:
# nothing is reinstalled while pyproject.toml, constraints.txt and the extras are unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="$1"
python="${PYTHON:-python3}"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
stamp="$venv/.installed-$extras"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "== installing nugen-integrations[$extras] (pinned by constraints.txt)"
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
