#!/bin/bash
#
# doc_links.sh: every relative link in the repository's documents (*.md,
# man pages, HTML) points to a file that exists inside the repository, and
# no document refers to the build machine's /work/shared or ../shared
# (a clone has neither). Not timing-sensitive; needs python3 and git.
set -u -o pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
git -C "$ROOT" rev-parse >/dev/null 2>&1 || { echo "SKIP: not a git checkout"; exit 77; }
bad=$(python3 - "$ROOT" <<'PY'
import os, re, subprocess, sys
root = os.path.abspath(sys.argv[1])
files = subprocess.run(["git", "-C", root, "ls-files", "*.md", "*.8", "*.5", "*.html"],
                       capture_output=True, text=True).stdout.split()
for f in files:
    text = open(os.path.join(root, f), errors="replace").read()
    for m in re.finditer(r"\]\(([^)\s]+)\)", text):
        url = m.group(1)
        if re.match(r"[a-z]+:", url) or url.startswith("#"):
            continue
        path = url.split("#")[0]
        if not path:
            continue
        target = os.path.normpath(os.path.join(root, os.path.dirname(f), path))
        if not target.startswith(root + os.sep) or not os.path.exists(target):
            print("%s: link to %s (outside the repository or missing)" % (f, url))
    for m in re.finditer(r"/work/shared|\.\./shared/", text):
        print("%s: refers to %s (not in a clone)" % (f, m.group(0)))
PY
)
[ -z "$bad" ] || { echo "FAIL: document links:"; echo "$bad"; exit 1; }
echo "PASS: doc_links"
