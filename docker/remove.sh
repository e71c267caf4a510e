#!/bin/sh
# Removes everything a podman-compose project of compose.yml made: its containers
# (stopped with a 15 s grace, so a leader hands over first), its named volumes and its
# network. `podman-compose down -v` of Debian bookworm's podman-compose 1.0.3 leaves the
# network behind and stops with a 1 s grace unless given -t, hence this script.
#
# Usage: docker/remove.sh [PROJECT] [IMAGE...]        default PROJECT: tsetcd
# IMAGE arguments are removed too (podman rmi), e.g. a test's own tag.
set -u
project=${1:-tsetcd}
[ $# -gt 0 ] && shift
: "${CONTAINERS_CONF:=$(cd "$(dirname "$0")" && pwd)/containers.conf}"
export CONTAINERS_CONF
label="label=io.podman.compose.project=$project"
ids=$(podman ps -a -q --filter "$label")
if [ -n "$ids" ]; then
  # shellcheck disable=SC2086 # one id per word
  podman stop -t 15 $ids >/dev/null 2>&1
  podman rm -f $ids >/dev/null 2>&1
fi
vols=$(podman volume ls -q --filter "$label")
# shellcheck disable=SC2086
[ -z "$vols" ] || podman volume rm -f $vols >/dev/null
nets=$(podman network ls -q --filter "$label")
# shellcheck disable=SC2086
[ -z "$nets" ] || podman network rm -f $nets >/dev/null
for image in "$@"; do
  podman image exists "$image" 2>/dev/null && podman rmi -f "$image" >/dev/null
done
left=$(podman ps -a -q --filter "$label"; podman volume ls -q --filter "$label"
  podman network ls -q --filter "$label")
if [ -n "$left" ]; then
  echo "remove: $project still has: $left" >&2
  exit 1
fi
echo "remove: project $project removed"
