# An example hook: leaves a marker in the learner's home folder, naming the hook that ran it.
# A hook runs on the lab with `bash -s` under its timeout; LAB_HOOK is set to the hook's name
# (postResume, preSuspend or preDelete). Exit 0 is success; anything else is recorded, never
# holding the lab up. A real one would commit or copy the learner's work somewhere safe.
set -euo pipefail
echo "${LAB_HOOK:-hook} ran at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$HOME/.labs-hook-ran"
