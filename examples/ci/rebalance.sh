#!/usr/bin/env bash
# CI-driven rebalancing, the steps of examples/ci/rebalance.yml as one script (the
# workflow runs this file; test/e2e/ciWorkflow.test.ts runs it against a local cluster).
#
#   rebalance.sh plan  OUT_DIR   snapshot export -> plan --check --format markdown -> sign
#                                writes OUT_DIR/snapshot.json, plan.json, plan.md and
#                                OUT_DIR/needs-rebalance (true|false: false also when the target
#                                is out of reach and the plan has no action)
#   rebalance.sh apply OUT_DIR   apply OUT_DIR/plan.json --yes --require-signature [--max-plan-age]
#
# Environment: etcd connection as for every shardctl command (ETCDCTL_ENDPOINTS,
# ETCDCTL_CACERT/CERT/KEY, ETCDCTL_USER/PASSWORD, SHARDCTL_CLUSTER);
# SHARDCTL_PLAN_KEY_FILE (plan: Ed25519 private key, PEM) and SHARDCTL_PLAN_PUB_FILE
# (apply: its public half); SHARDCTL_PLAN_MAX_AGE (apply, optional: refuse a plan made longer
# ago, e.g. 24h, however long the approval waited); SHARDCTL (the command, default `shardctl`).
# Exit codes: 0 done; shardctl's own codes otherwise (2 bad input, 3 etcd unreachable, ...).
set -euo pipefail

SHARDCTL=${SHARDCTL:-shardctl}
step=${1:?usage: rebalance.sh plan|apply OUT_DIR}
out=${2:?usage: rebalance.sh plan|apply OUT_DIR}
mkdir -p "$out"

case "$step" in
  plan)
    : "${SHARDCTL_PLAN_KEY_FILE:?set SHARDCTL_PLAN_KEY_FILE to the plan signing key (PEM)}"
    $SHARDCTL snapshot export --out "$out/snapshot.json"
    # --check: 0 within target, 10 rebalance needed, 11 target unreachable (the plan may still
    # improve the spread); anything else is an error and stops the job.
    rc=0
    $SHARDCTL plan --snapshot "$out/snapshot.json" --check --format markdown \
      --out "$out/plan.json" --sign "$SHARDCTL_PLAN_KEY_FILE" > "$out/plan.md" || rc=$?
    # An 11 whose plan has no action (a shard too hot for any node, one hot key) changes nothing:
    # no approval to ask for on every scheduled run. The report still says why.
    actions=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).actions.length))' "$out/plan.json" 2> /dev/null || echo unknown)
    case "$rc" in
      0) echo false > "$out/needs-rebalance" ;;
      10) echo true > "$out/needs-rebalance" ;;
      11) if [ "$actions" = 0 ]; then echo false; else echo true; fi > "$out/needs-rebalance" ;;
      *) exit "$rc" ;;
    esac
    echo "plan: exit $rc, needs rebalance: $(cat "$out/needs-rebalance")" >&2
    ;;
  apply)
    : "${SHARDCTL_PLAN_PUB_FILE:?set SHARDCTL_PLAN_PUB_FILE to the public key that signed the plan (PEM)}"
    # Refuses a plan that is unsigned, signed by another key, altered since, or made before the
    # cluster was initialised again (exit 2); and one with any action the cluster moved past since
    # the snapshot, or older than SHARDCTL_PLAN_MAX_AGE (exit 7): a signed plan runs whole or not
    # at all, so plan again.
    age=()
    if [ -n "${SHARDCTL_PLAN_MAX_AGE:-}" ]; then age=(--max-plan-age "$SHARDCTL_PLAN_MAX_AGE"); fi
    $SHARDCTL apply "$out/plan.json" --yes --require-signature "$SHARDCTL_PLAN_PUB_FILE" "${age[@]}" --json > "$out/apply.json"
    ;;
  *)
    echo "rebalance.sh: unknown step \"$step\"; use plan or apply" >&2
    exit 2
    ;;
esac
