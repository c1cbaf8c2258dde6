#!/bin/sh
echo "$GREETING"
echo "running as $(id -u):$(id -g) in $(pwd)"
cat /etc/hello/*.conf
cat /var/lib/hello/status
