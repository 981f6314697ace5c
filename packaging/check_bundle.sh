#!/usr/bin/env bash
# Checks a built bundle as a fresh user would run it: --version, predict on a digit, a short training,
# ONNX and PyTorch-script exports of that run, the prediction service, a 2-process training, and `gui --smoke-test` (offscreen: PyTorch, the default
# model, a training worker started through the bundle, the window). Prints each check's result and the folder's size;
# exits 1 if any check failed, 2 if there is no bundle.
#
#   packaging/check_bundle.sh [BUNDLE_EXECUTABLE]     (default: dist/nn-playground/nn-playground)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP="${1:-$ROOT/dist/nn-playground/nn-playground}"
if [ ! -x "$APP" ]; then
    echo "check_bundle.sh: no bundle executable at $APP; build one with packaging/build.sh" >&2
    exit 2
fi
APP="$(cd "$(dirname "$APP")" && pwd)/$(basename "$APP")"

# A fresh user: home, settings, cache (the extracted MNIST) and data (runs) all new and temporary.
USER_HOME="$(mktemp -d "${TMPDIR:-/tmp}/nn-playground-check.XXXXXX")"
trap 'rm -rf "$USER_HOME"' EXIT
export HOME="$USER_HOME" XDG_CONFIG_HOME="$USER_HOME/.config" XDG_CACHE_HOME="$USER_HOME/.cache" \
       XDG_DATA_HOME="$USER_HOME/.local/share" QT_QPA_PLATFORM=offscreen
unset PLAYGROUND_CACHE_DIR PLAYGROUND_DATA_DIR PYTHONPATH PYTHONHOME
cd "$USER_HOME"  # nothing of the checkout within reach of the bundle

FAILED=0
OUT="$USER_HOME/out.txt"
check() {  # check NAME FUNCTION: runs it, prints ok/FAILED, the seconds it took, and on failure its output
    local name="$1" began=$SECONDS rc=0
    "$2" >"$OUT" 2>&1 || rc=$?
    if [ "$rc" = 0 ]; then
        printf 'ok      %-36s (%ss)\n' "$name" "$((SECONDS - began))"
    else
        printf 'FAILED  %-36s (%ss, exit %s)\n' "$name" "$((SECONDS - began))" "$rc"
        sed 's/^/        | /' "$OUT" | tail -25
        FAILED=$((FAILED + 1))
    fi
}

# Each prints what it ran into, and succeeds only when the bundle did the right thing.
version() { "$APP" --version && "$APP" --version | grep '^playground [0-9]' >/dev/null; }
predict() {
    "$APP" predict --json "$ROOT/packaging/check-digit-7.png" >"$USER_HOME/predict.json" &&
        cat "$USER_HOME/predict.json" && grep '"label": "7"' "$USER_HOME/predict.json" >/dev/null
}
train() {
    "$APP" train --preset mlp-300 --epochs 1 --limit 2000 --json --out "$USER_HOME/run" >"$USER_HOME/train.jsonl" &&
        tail -1 "$USER_HOME/train.jsonl" && tail -1 "$USER_HOME/train.jsonl" | grep '"status": "completed"' >/dev/null
}
export_onnx() { "$APP" export --format onnx --out "$USER_HOME/model.onnx" "$USER_HOME/run" && test -s "$USER_HOME/model.onnx"; }
export_script() { "$APP" export --format script --out "$USER_HOME/model.py" "$USER_HOME/run" && test -s "$USER_HOME/model.py"; }
serve() {  # the prediction service on a free port: /health, then the 7 as a PNG upload
    "$APP" serve --port 0 >"$USER_HOME/serve.txt" 2>&1 &
    local pid=$! url="" i
    for i in $(seq 1 600); do  # up to 60 s for the start line
        url="$(grep -o 'http://127.0.0.1:[0-9]*' "$USER_HOME/serve.txt" | head -1 || true)"
        [ -n "$url" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    local rc=1
    if [ -n "$url" ] && curl -fsS "$url/health" && echo &&
        curl -fsS -H 'Content-Type: image/png' --data-binary "@$ROOT/packaging/check-digit-7.png" \
            "$url/predict" | tee "$USER_HOME/served.json" && echo &&
        grep '"label": "7"' "$USER_HOME/served.json" >/dev/null && curl -fsS "$url/docs" >/dev/null; then
        rc=0
    fi
    kill -INT "$pid" 2>/dev/null; wait "$pid" || true
    cat "$USER_HOME/serve.txt"
    return $rc
}
nproc2() {  # data-parallel: two processes of the bundle's own executable (gloo)
    "$APP" train --preset mlp-300 --epochs 1 --limit 1000 --nproc 2 --json --out "$USER_HOME/ddp" \
        >"$USER_HOME/ddp.jsonl" && tail -1 "$USER_HOME/ddp.jsonl" &&
        [ "$(grep -c '"type": "finished"' "$USER_HOME/ddp.jsonl")" = 1 ] &&
        tail -1 "$USER_HOME/ddp.jsonl" | grep '"world_size": 2' >/dev/null
}
smoke() {
    "$APP" gui --smoke-test >"$USER_HOME/smoke.txt" && cat "$USER_HOME/smoke.txt" &&
        grep '^smoke test passed' "$USER_HOME/smoke.txt" >/dev/null
}

echo "bundle: $APP"
check "--version" version
check "predict a 7 (MNIST test image)" predict
check "train mlp-300, 1 epoch, 2000 images" train
check "export the run to ONNX" export_onnx
check "export the run as a PyTorch script" export_script
if command -v curl >/dev/null; then check "serve: /health, /predict, /docs" serve
else echo "skipped serve (no curl here)"; fi
check "train --nproc 2 (data-parallel)" nproc2
check "gui --smoke-test (offscreen)" smoke
if [ -f "$USER_HOME/smoke.txt" ]; then sed 's/^/        /' "$USER_HOME/smoke.txt"; fi  # the smoke test's lines
echo "size: $(du -sh "$(dirname "$APP")" | cut -f1) ($(dirname "$APP"))"
if [ "$FAILED" != 0 ]; then
    echo "$FAILED check(s) failed"
    exit 1
fi
echo "all checks passed"
