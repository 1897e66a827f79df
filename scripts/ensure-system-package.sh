#!/usr/bin/env bash
# ensure-system-package.sh PACKAGE PATH...  — make a Debian package's files available.
# Succeeds at once when one of the PATHs exists; otherwise installs PACKAGE with apt-get when it
# is there and we may use it (root or password-less sudo); otherwise prints one line saying
# what to run. Always exits 0: what needs the package skips its tests with the same hint.
set -u
package=$1
shift
for path in "$@"; do
  [ -n "$path" ] && [ -e "$path" ] && exit 0
done
if command -v apt-get >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi
  if [ "$sudo" != none ]; then
    echo "Installing the Debian package $package…"
    if $sudo apt-get install -y -qq "$package" >/dev/null 2>&1 \
      || { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$package" >/dev/null 2>&1; }; then
      exit 0
    fi
  fi
fi
echo "$package is not installed: run 'sudo apt-get install $package'."
exit 0
