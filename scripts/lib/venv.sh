# Sourced by scripts/*: make sure .venv exists and matches pyproject.toml.
#
# The venv is rebuilt when it is missing, broken, or was installed from a different
# pyproject.toml (a hash of it is kept in .venv/.genhook-stamp), so a fresh clone or
# a pulled dependency change needs no manual step.

GENHOOK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
GENHOOK_VENV="${GENHOOK_VENV:-$GENHOOK_ROOT/.venv}"

ensure_venv() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "genhook needs Python 3.11 or newer (tried: $python)" >&2
        return 1
    fi
    local want stamp="$GENHOOK_VENV/.genhook-stamp"
    want="$(cat "$GENHOOK_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
    if [ -x "$GENHOOK_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] \
        && "$GENHOOK_VENV/bin/python" -c 'import receiver, storage' 2>/dev/null; then
        return 0
    fi
    echo "setting up $GENHOOK_VENV (first run or pyproject.toml changed)..." >&2
    # Upgrade in place: another shell may be running tests from this venv right now.
    if ! "$GENHOOK_VENV/bin/python" -c '' 2>/dev/null; then
        rm -rf "$GENHOOK_VENV"
        "$python" -m venv "$GENHOOK_VENV"
    fi
    "$GENHOOK_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$GENHOOK_VENV/bin/python" -m pip install --quiet -e "$GENHOOK_ROOT[dev]"
    echo "$want" > "$stamp"
}
