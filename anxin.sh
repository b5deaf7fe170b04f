#!/usr/bin/env bash
# Anxin (安心) — set-up and the two entry points of the README:
#   ./anxin.sh demo [anxin-demo options]   a simulated district (hub + box + simulators)
#   ./anxin.sh test [pytest options]       lint and the whole test suite (no benches)
# On a fresh Debian 12 it installs what it needs itself: apt packages (via sudo when
# not root), a virtualenv in .venv, and the project with its test extras.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# libpri (libpri1.4 + libpri-dev) and tshark are the PRI interop suite's independent peers;
# espeak-ng makes the Mandarin prompts (and test speech), multimon-ng and sox check the media.
APT_PACKAGES=(python3 python3-venv python3-dev gcc mosquitto mosquitto-clients postgresql
              libpri1.4 libpri-dev tshark espeak-ng sox multimon-ng)
VENV=.venv

say() { printf '\033[1m[anxin]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else say "需要 root 权限安装系统软件包 (need root for apt-get): $*"; exit 1
  fi
}

missing_apt_packages() {
  local pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    case "$pkg" in
      # A python3 that is not Debian's (pyenv, a source build) is fine if it can make venvs.
      python3|python3-venv|python3-dev)
        if command -v python3 >/dev/null && python3 -c 'import ensurepip, venv, sys;
import sysconfig, os; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null
        then continue; fi ;;
      gcc) command -v gcc >/dev/null && continue ;;
      mosquitto) { command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; } && continue ;;
      mosquitto-clients) command -v mosquitto_pub >/dev/null && continue ;;
      # Server binaries only: the tests start their own private cluster.
      tshark|espeak-ng|sox|multimon-ng) command -v "$pkg" >/dev/null && continue ;;
      postgresql) compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && continue ;;
    esac
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}

ensure_system() {
  local missing
  missing=$(missing_apt_packages | tr '\n' ' ')
  if [ -n "${missing// /}" ]; then
    say "安装系统软件包 installing: $missing"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
  fi
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    say "需要 Python ≥ 3.11 (found $(python3 --version))"; exit 1; }
}

ensure_venv() {
  # Reinstall when pyproject.toml changes; the stamp holds its hash.
  local stamp="$VENV/.anxin-installed" want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then
    say "创建虚拟环境 creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "安装 Python 依赖 installing the project and its dependencies (pip)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    echo "$want" > "$stamp"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  demo)
    ensure_system; ensure_venv
    exec "$VENV/bin/anxin-demo" "$@" ;;
  test)
    ensure_system; ensure_venv
    say "ruff"
    "$VENV/bin/ruff" check .
    say "pytest (单元、互通、端到端测试 unit, interop, e2e)"
    exec "$VENV/bin/python" -m pytest -p no:cacheprovider "$@" ;;
  setup)
    ensure_system; ensure_venv ;;
  *)
    echo "usage: ./anxin.sh demo|test|setup [args]" >&2; exit 2 ;;
esac
