#!/usr/bin/env bash
# The contract suite and a whole lab life against a real Keystone + Heat (Debian's packages,
# installed and started by scripts/real-heat.sh on 127.0.0.1), then stops them again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/tools.sh
bash scripts/real-heat.sh install
was_running=0
bash scripts/real-heat.sh status >/dev/null 2>&1 && grep -q running <(bash scripts/real-heat.sh status 2>/dev/null) && was_running=1
bash scripts/real-heat.sh start
[[ $was_running == 1 ]] || trap 'bash scripts/real-heat.sh stop' EXIT
set -a
# shellcheck disable=SC1091
. "${REAL_HEAT_DATA_DIR:-.data/real-heat}/contract.env"
set +a
npx jest test/contract test/e2e/real-heat-lab.test.ts
