#!/usr/bin/env bash
# Make Fashion-MNIST available: it is found, or installed from Debian's package when apt-get
# is there and we may use it; otherwise print one line saying what to do (and succeed, so that
# everything that does not need it still runs; its tests skip with the same hint).
set -u
for dir in "${EDGEKD_DATA_DIR:-}" "${EDGEKD_DATA_DIR:-}/fashion-mnist" /usr/share/datasets/fashion-mnist; do
  if [ -n "$dir" ] && [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    exit 0
  fi
done
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
  if [ "$SUDO" != none ]; then
    echo "Installing Fashion-MNIST (Debian package dataset-fashion-mnist)…"
    if $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
      || { $SUDO apt-get update -qq >/dev/null 2>&1 && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }; then
      exit 0
    fi
  fi
fi
echo "Fashion-MNIST is not installed: run 'sudo apt-get install dataset-fashion-mnist', or put its four IDX .gz files in a folder and set EDGEKD_DATA_DIR to it."
exit 0
