# Sourced by scripts/_bootstrap.sh and .ci/run. find_python NAME prints the path of a
# runnable interpreter for NAME (a command such as python3.10, or a path), or nothing.
# A pyenv shim on PATH for a version that pyenv has but has not selected fails when run,
# so "on PATH" is not enough: the candidate must answer --version. After PATH, pyenv's
# own versions folder is searched (newest patch release first).
find_python() {
  local name="$1" candidate minor root
  if candidate="$(command -v "$name" 2>/dev/null)" && "$candidate" --version >/dev/null 2>&1; then
    echo "$candidate"
    return 0
  fi
  minor="$(echo "$name" | sed -n 's/^python\(3\.[0-9]*\)$/\1/p')"
  [ -n "$minor" ] || return 0
  root="$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")"
  for candidate in $(ls -d "$root/versions/$minor".* 2>/dev/null | sort -Vr); do
    if [ -x "$candidate/bin/$name" ] && "$candidate/bin/$name" --version >/dev/null 2>&1; then
      echo "$candidate/bin/$name"
      return 0
    fi
  done
}
