#!/usr/bin/env bash
# Installs Apache Qpid's own Python 2 code -- qpid-python 1.36.0-1 (qpid.codec010, the AMQP 0-10
# codec) and qpid-tools 1.36.0-1 (qmf.console, the QMFv1 console) -- from their PyPI source
# distributions into a private folder, for tests/interop/qpid_harness.py.
#
#   usage: tests/interop/install_qpid.sh DIR        (the test suite passes build/qpid)
#
# Result: DIR/site holds the importable packages (qpid, qmf, ...); the script prints DIR.
# Idempotent: a complete install is detected by DIR/.installed and left alone.
# Needs pyenv's Python 2.7.18 (or any python2.7 on PATH, or $PY27).
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
stamp="qpid-python==1.36.0-1 qpid-tools==1.36.0-1"

installed() {
  [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$stamp" ] \
    && [ -f "$dir/site/qpid/codec010.py" ] && [ -f "$dir/site/qmf/console.py" ]
}
if installed; then
  echo "$dir"
  exit 0
fi
# one installer at a time (parallel test runs); the winner's work is reused
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  flock 9
  if installed; then
    echo "$dir"
    exit 0
  fi
fi

export PYENV_VERSION=2.7.18          # selects 2.7.18 behind pyenv's python2.7 shim
py="${PY27:-python2.7}"
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1; then
  cat >&2 <<MSG
install_qpid.sh: no Python 2.7 interpreter found ('$py' with PYENV_VERSION=2.7.18).
Qpid's QMFv1 console (qpid-tools 1.36) and codec (qpid-python 1.36) are Python 2 only.
Get one with:   pyenv install 2.7.18
(or point \$PY27 at any Python 2.7 interpreter that has pip).
MSG
  exit 1
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then
  echo "install_qpid.sh: '$py' has no pip; run: $py -m ensurepip" >&2
  exit 1
fi

# sha256 of the two PyPI sdists (pip checks them: --require-hashes)
reqs="$(mktemp)"
tmp="$(mktemp -d "$dir/.install.XXXXXX")"
trap 'rm -rf "$tmp" "$reqs"' EXIT
cat > "$reqs" <<REQ
qpid-python==1.36.0-1 --hash=sha256:1a341981723a7980163e6d33530f29133433742f6f9b5b12b46d5d239548afee
qpid-tools==1.36.0-1 --hash=sha256:14af55c6e47bcc24b2199110d57242e014f05708fba1d8d224254c917131505b
REQ

pipq=(-q --disable-pip-version-check)
"$py" -m pip download "${pipq[@]}" --no-deps --no-binary=:all: --require-hashes \
  -r "$reqs" -d "$tmp/dl" >&2

# qpid-python: its setup.py installs the 'qpid' package (plus mllib, qpid_tests)
"$py" -m pip install "${pipq[@]}" --no-deps --no-index --no-compile --target "$tmp/site" \
  "$tmp"/dl/qpid-python-*.tar.gz >&2
# qpid-tools: only its library folder is needed (lib/qmf, lib/qpidtoollibs); no scripts
mkdir -p "$tmp/src"
tar -xzf "$tmp"/dl/qpid-tools-*.tar.gz -C "$tmp/src"
cp -R "$tmp"/src/qpid-tools-*/lib/qmf "$tmp"/src/qpid-tools-*/lib/qpidtoollibs "$tmp/site/"

test -f "$tmp/site/qpid/codec010.py" && test -f "$tmp/site/qmf/console.py"
(cd "$tmp/site" && "$py" -c 'import qpid.codec010, qmf.console' >&2)

rm -f "$dir/.installed"
rm -rf "$dir/site" "$dir/dl"
mv "$tmp/site" "$dir/site"
mv "$tmp/dl" "$dir/dl"
echo "$stamp" > "$dir/.installed"
echo "$dir"
