#!/bin/sh
# The redis image's entrypoint: `-...` or `*.conf` arguments are redis-server's.
set -e
case "$1" in
  -*|*.conf) set -- redis-server "$@" ;;
esac
exec "$@"
