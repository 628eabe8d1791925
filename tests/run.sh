#!/usr/bin/env bash
# Runs every test of the project: unit tests, and the end-to-end suites that
# start the real spamd/spamc and SpamAssassin's own spamd/spamc and procmail.
# Installs the Debian packages those peers come from when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/spamd ] || need+=(spamd spamassassin)
[ -x /usr/bin/spamc ] || need+=(spamc)
[ -x /usr/bin/procmail ] || need+=(procmail)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: missing ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "tests/run.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q "${need[@]}"
fi
if [ ! -d ../shared/corpus ]; then
  echo "tests/run.sh: ../shared/corpus is missing (the test corpus lives beside the project)" >&2
  exit 1
fi

cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast
