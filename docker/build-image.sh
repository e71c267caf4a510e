#!/bin/sh
# Builds the tsetcd image from this checkout without any registry but npm's: fills a
# staging folder (the host's node binary, the built package and its production
# node_modules) and runs `podman build -f docker/Dockerfile` on it. See the Dockerfile
# for why the context looks like this.
#
# Usage: docker/build-image.sh [TAG]                   default TAG: tsetcd:dev
# Environment:
#   BASE_IMAGE  image to build FROM (default: localhost/debian-base:bookworm, made by
#               docker/build-base.sh, which this script runs when it is missing)
#   NODE        node binary to put in the image (default: `command -v node`; must be >= 20)
#   ENGINE      podman or docker (default: podman; with podman, docker/containers.conf
#               applies unless CONTAINERS_CONF is set)
#   SKIP_BUILD=1  use the existing dist/ instead of running `npm run build` first
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
tag=${1:-tsetcd:dev}
engine=${ENGINE:-podman}
base=${BASE_IMAGE:-localhost/debian-base:bookworm}
node_bin=${NODE:-$(command -v node)}
if [ "$engine" = podman ]; then
  : "${CONTAINERS_CONF:=$here/containers.conf}"
  export CONTAINERS_CONF
fi

major=$("$node_bin" -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "build-image: $node_bin is Node $("$node_bin" --version); tsetcd needs >= 20" >&2
  exit 1
fi

if [ "$base" = localhost/debian-base:bookworm ] && ! "$engine" image exists "$base" 2>/dev/null; then
  ENGINE=$engine "$here/build-base.sh" "$base"
fi

cd "$root"
[ "${SKIP_BUILD:-0}" = 1 ] || npm run build >/dev/null
[ -f dist/tsetcd.mjs ] || { echo "build-image: dist/tsetcd.mjs missing (npm run build)" >&2; exit 1; }

ctx=$(mktemp -d /var/tmp/tsetcd-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT INT TERM
cp "$node_bin" "$ctx/node"
mkdir -p "$ctx/app/dist"
cp -R package.json package-lock.json bin proto "$ctx/app/"
cp -R dist/src dist/tsetcd.mjs dist/tsetcd.mjs.map "$ctx/app/dist/"
# Exactly the lock file's production tree; --prefer-offline reads npm's cache first.
(cd "$ctx/app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund >/dev/null)

if [ "$engine" = podman ]; then
  # --pull=never: the base is local; --layers=false: no intermediate images left behind.
  podman build --pull=never --layers=false --build-arg "BASE_IMAGE=$base" \
    -f "$here/Dockerfile" -t "$tag" "$ctx"
else
  "$engine" build --build-arg "BASE_IMAGE=$base" -f "$here/Dockerfile" -t "$tag" "$ctx"
fi
echo "build-image: built $tag from $(git rev-parse --short HEAD 2>/dev/null || echo 'this checkout') on $base"
