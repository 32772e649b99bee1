#!/bin/sh
# The node image's entrypoint: a first argument that is an option or not a
# command is given to node.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}" 2>/dev/null)" ]; then
  set -- node "$@"
fi
exec "$@"
