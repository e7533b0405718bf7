# Sourced by run.sh and test.sh: create .venv and install a requirements file when it changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p var
requirements="$1"
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtualenv in .venv ..."
  python3 -m venv .venv
fi
stamp="var/.installed-$(basename "$requirements")"
wanted="$(cat requirements*.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing $requirements ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$wanted" > "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
