#!/bin/sh
# Entry point of the auren test image: busybox httpd serving /www on $PORT.
#
# GET /health returns 200 with {"status":"healthy"} (the file /www/health);
# removing that file inside the container makes the service (and the Docker
# HEALTHCHECK) unhealthy. The shell stays PID 1 and forwards SIGTERM, because
# httpd as PID 1 ignores it and `docker stop` would wait for its timeout.
PORT="${PORT:-8080}"
httpd -f -v -p "$PORT" -h /www &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
wait "$child"
exit $?
