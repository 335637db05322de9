# Cached Python virtualenvs for the test services and tools (PyPI only),
# sourced by scripts/services/nutshell and scripts/schemathesis.
#
# A virtualenv lives under ${XDG_CACHE_HOME:-~/.cache}/tally, named for the
# tool, its version and the hash of its pinned requirements file, so that a
# changed pin installs afresh and an unchanged one is reused. Packages are
# installed with --no-deps from exact pins: what runs is what the file says.

# venv_path NAME VERSION REQUIREMENTS: prints the virtualenv's directory.
venv_path() {
  local hash
  hash=$(sha256sum "$3" | cut -c1-16)
  echo "${XDG_CACHE_HOME:-$HOME/.cache}/tally/$1-$2-$hash"
}

# venv_install LABEL VENV CHECK PIP_ARGS...: unless VENV is installed
# already, makes it afresh, runs `pip install --no-deps PIP_ARGS...`, runs
# the Python statement CHECK in it (it must succeed) and marks it installed.
venv_install() {
  local label=$1 venv=$2 check=$3
  shift 3
  if [[ -f "$venv/.installed" ]]; then
    return 0
  fi
  echo "$label: installing into $venv (once)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$@"
  "$venv/bin/python" -c "$check" ||
    { echo "$label: the install in $venv does not work ($check)" >&2; return 1; }
  touch "$venv/.installed"
}
