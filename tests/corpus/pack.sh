#!/usr/bin/env bash
# Rebuilds spamassassin-public.tar.zst from a directory holding the corpus's
# five folders (easy_ham easy_ham_2 hard_ham spam spam_2). The archive is
# byte-for-byte reproducible: sorted names, fixed owner and mtime, ustar.
#   bash tests/corpus/pack.sh /path/to/spamassassin-public
set -euo pipefail
src=${1:?usage: pack.sh DIR-CONTAINING-easy_ham...}
out=$(cd "$(dirname "$0")" && pwd)/spamassassin-public.tar.zst
parent=$(cd "$src/.." && pwd)
name=$(basename "$src")
tar -C "$parent" -cf - --sort=name --owner=0 --group=0 --numeric-owner \
    --mtime=2024-01-01 --mode=u+w,a+rX --format=ustar --transform "s,^$name,spamassassin-public," "$name" \
  | zstd -19 -q -f -o "$out"
echo "wrote $out"
