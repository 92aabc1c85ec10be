#!/usr/bin/env bash
# Fails on an #include that breaks the layering written in docs/design.md ("Code layout"):
# arrows point down, commands -> repo -> pipeline + storage -> common; pg is used by repo and the
# commands; only cli/ (and main.cc) sees every folder; only storage/open.cc knows the drivers;
# test doubles (storage/mem, storage/fault) are for *_test.cc files only.
set -euo pipefail
cd "$(dirname "$0")/../src"

commands="archive backup check info restore retention verify drill stream"
allowed_for() {  # folder -> folders it may include (besides itself)
  case $1 in
    common) echo "" ;;
    pipeline | pg) echo "common" ;;
    config) echo "common storage" ;;
    storage) echo "common" ;;
    storage/*) echo "common storage" ;;
    # repo sees the Storage interface (storage/storage.h), never a driver: "storage" does not
    # match storage/replicated, storage/posix, ... (those keep their full path below). Reading
    # around a damaged replica goes through a Storage seam method instead (issue 9, point 4).
    repo) echo "common pipeline pg storage" ;;
    # drill restores and starts a scratch cluster with restore's code, as a library.
    drill) echo "common pipeline pg repo storage config restore" ;;
    # backup records the tiers a backup joins and info shows retention dates: both apply the
    # retention policy (retention/ includes nothing above repo, so no cycle).
    backup | info) echo "common pipeline pg repo storage config retention" ;;
    schedule) echo "common" ;;  # cron expressions and time zones: a library
    daemon) echo "common pipeline pg repo storage config schedule $commands" ;;
    cli) echo "*" ;;
    *) echo "common pipeline pg repo storage config" ;;  # a command
  esac
}

status=0
while IFS= read -r file; do
  file=${file#./}
  [[ $file == main.cc ]] && continue
  # Test code (*_test.cc, test_*.h helpers) may reach whatever it exercises; only production code
  # is held to the layers, and only test code may include the test doubles.
  is_test=0
  [[ $file == *_test.cc || $(basename "$file") == test_*.h ]] && is_test=1
  dir=$(dirname "$file")
  case $dir in storage/*) ;; *) dir=${dir%%/*} ;; esac
  [[ $file == storage/open.cc ]] && continue  # the one factory that names every driver
  allowed=$(allowed_for "$dir")
  [[ $allowed == "*" ]] && continue
  while IFS= read -r inc; do
    target=$(dirname "$inc")
    case $target in storage/*) ;; *) target=${target%%/*} ;; esac
    [[ $target == "$dir" ]] && continue
    if [[ $target == storage/mem || $target == storage/fault ]]; then
      ((is_test)) && continue
      echo "$file: includes test double '$inc' (tests only)"; status=1; continue
    fi
    ok=0
    for a in $allowed; do [[ $target == "$a" ]] && ok=1; done
    ((is_test)) && ok=1
    if ((!ok)); then
      echo "$file: '$dir' may not include '$inc' (allowed: ${allowed:-nothing outside $dir})"
      status=1
    fi
  done < <(sed -n 's/^#include "\(.*\)".*/\1/p' "$file")
done < <(find . -name '*.cc' -o -name '*.h' | sort)
((status == 0)) && echo "includes: layering holds"
exit $status
