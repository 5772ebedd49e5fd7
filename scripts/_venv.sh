# Sourced by scripts/run and scripts/test: make .venv and install the project.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
python="${PYTHON:-python3}"
extras="${1:-}"
stamp="$venv/.installed${extras:+-$extras}"
_venv_install() {
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e "$repo${extras:+[$extras]}"
        touch "$stamp"
    fi
}
# Two runs started together (scripts/run beside scripts/test) would install
# into the same .venv at once and break each other's pip: take turns.
# Closing descriptor 9 lets the lock go.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$repo/.venv.lock"
    flock 9
    _venv_install
    exec 9>&-
else
    _venv_install
fi
