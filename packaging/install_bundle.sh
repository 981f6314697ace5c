#!/usr/bin/env bash
# Installs a built bundle for the current Linux user: copies dist/nn-playground/ to
# ~/.local/opt/nn-playground/ (or $PREFIX/nn-playground), and adds the menu entry and icon pointing at
# its executable (~/.local/share/applications/, ~/.local/share/icons/). Uninstall: remove those three.
#
#   packaging/install_bundle.sh [BUNDLE_DIR]     (default: dist/nn-playground)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="${1:-$ROOT/dist/nn-playground}"
PREFIX="${PREFIX:-$HOME/.local/opt}"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
if [ ! -x "$BUNDLE/nn-playground" ]; then
    echo "install_bundle.sh: no bundle at $BUNDLE (its executable nn-playground is missing);" \
         "build one with packaging/build.sh" >&2
    exit 2
fi
DEST="$PREFIX/nn-playground"
mkdir -p "$PREFIX" "$DATA/applications" "$DATA/icons/hicolor/scalable/apps"
rm -rf "$DEST.new"
cp -a "$BUNDLE" "$DEST.new"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
# Exec= must be an absolute path (a desktop entry does not expand ~ or $HOME); quoted for spaces.
sed "s|^Exec=.*|Exec=\"$DEST/nn-playground\"|" "$ROOT/packaging/nn-playground.desktop" \
    > "$DATA/applications/nn-playground.desktop"
cp "$ROOT/packaging/nn-playground.svg" "$DATA/icons/hicolor/scalable/apps/nn-playground.svg"
if command -v update-desktop-database >/dev/null; then update-desktop-database "$DATA/applications" || true; fi
echo "installed $DEST/nn-playground and its menu entry $DATA/applications/nn-playground.desktop"
