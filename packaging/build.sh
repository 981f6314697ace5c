#!/usr/bin/env bash
# Builds the one-folder, double-click bundle dist/nn-playground/ with PyInstaller (Linux and macOS;
# packaging/README.md has the Windows commands). Run from anywhere: paths are taken from the repo root.
#
#   packaging/build.sh            CPU-only torch (the default: ~1/5 of the size of a CUDA build)
#   packaging/build.sh --gpu      the CUDA torch from PyPI's default build instead (Linux; much larger)
#
# Environment:
#   PYTHON                   the Python to make the build virtualenv with (default: python3; 3.11+)
#   PLAYGROUND_BUILD_VENV    the build virtualenv (default: build/bundle-venv, or build/bundle-venv-gpu
#                            with --gpu; reused if present)
#   PLAYGROUND_TORCH_VERSION / PLAYGROUND_TORCHVISION_VERSION
#                            the CPU torch tried first from pip's configured sources (a local
#                            find-links folder): default 2.13.0+cpu / 0.28.0
#   PLAYGROUND_TORCH_INDEX   where CPU torch comes from when that pinned one is not available
#                            (default https://download.pytorch.org/whl/cpu)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GPU=0
for arg in "$@"; do
    case "$arg" in
        --gpu) GPU=1 ;;
        -h|--help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "build.sh: unknown argument '$arg' (use --gpu or nothing; --help says more)" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
if [ "$GPU" = 1 ]; then VENV="${PLAYGROUND_BUILD_VENV:-$ROOT/build/bundle-venv-gpu}"
else VENV="${PLAYGROUND_BUILD_VENV:-$ROOT/build/bundle-venv}"; fi
TORCH_VERSION="${PLAYGROUND_TORCH_VERSION:-2.13.0+cpu}"
TORCHVISION_VERSION="${PLAYGROUND_TORCHVISION_VERSION:-0.28.0}"
TORCH_INDEX="${PLAYGROUND_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}"
START=$(date +%s)

step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - START ))"; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "build.sh: $PYTHON is missing or older than Python 3.11; set PYTHON=/path/to/python3.11" >&2
    exit 2
fi

if [ ! -x "$VENV/bin/python" ] && [ ! -x "$VENV/Scripts/python.exe" ]; then
    step "making the build virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ -x "$VENV/bin/python" ]; then PY="$VENV/bin/python"; else PY="$VENV/Scripts/python.exe"; fi
PIP=("$PY" -m pip)
"${PIP[@]}" install --quiet --upgrade pip wheel

step "installing torch"
if [ "$GPU" = 1 ]; then
    # PyPI's Linux torch is the CUDA build (it pulls the nvidia-* runtime wheels). A CPU torch already
    # in this virtualenv would satisfy pip and be kept: the bundle would silently be CPU-only.
    if "$PY" -c 'import sys, torch; sys.exit(0 if torch.version.cuda is None else 1)' 2>/dev/null; then
        echo "build.sh: $VENV already holds a CPU-only torch; remove it or set PLAYGROUND_BUILD_VENV" \
             "to another folder for the GPU build" >&2
        exit 2
    fi
    "${PIP[@]}" install "torch" "torchvision"
else
    # First the pinned CPU build from pip's configured sources (a find-links folder or mirror holding
    # torch-X+cpu); where that is not there (a user's machine), the CPU-only index.
    if ! "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"; then
        echo "torch==$TORCH_VERSION is not in pip's configured sources; using $TORCH_INDEX"
        "${PIP[@]}" install --index-url "$TORCH_INDEX" torch torchvision
    fi
    if "${PIP[@]}" list 2>/dev/null | grep -i '^nvidia'; then
        echo "build.sh: the CPU build pulled the nvidia-* packages above (a CUDA torch was installed);" \
             "remove $VENV and set PLAYGROUND_TORCH_INDEX to a CPU-only index" >&2
        exit 1
    fi
fi
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.version.cuda else "cpu-only")'

step "installing the app and PyInstaller"
# Pip keeps the torch installed above: it satisfies the app's requirement.
"${PIP[@]}" install "$ROOT" pyinstaller

step "running PyInstaller (the analysis of torch takes several minutes)"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" "$ROOT/packaging/nn-playground.spec"

step "done"
if [ -d "$ROOT/dist/nn-playground.app" ]; then du -sh "$ROOT/dist/nn-playground.app"; fi
du -sh "$ROOT/dist/nn-playground"
echo "run packaging/check_bundle.sh to check it"
