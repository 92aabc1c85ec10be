#!/usr/bin/env bash
# Fails on a source file under src/ longer than 600 lines (docs/design.md, "Rules checked in CI"):
# a file that long holds more than one idea; split it by what its parts do.
set -euo pipefail
cd "$(dirname "$0")/../src"
limit=600
status=0
while IFS= read -r file; do
  lines=$(wc -l <"$file")
  if ((lines > limit)); then
    echo "src/${file#./}: $lines lines (at most $limit)"
    status=1
  fi
done < <(find . -name '*.cc' -o -name '*.h' | sort)
if ((status == 0)); then
  echo "sizes: no file in src/ over $limit lines"
else
  echo "HINT: split the file by what its parts do (docs/design.md, \"Code layout\")"
fi
exit $status
