#!/bin/sh
# The image's entrypoint name; upstream's also runs /docker-entrypoint.d/*.sh, which this image has none of.
set -e
exec "$@"
