#!/bin/sh
# As the public image's 20-envsubst-on-templates.sh: each /etc/nginx/templates/*.template
# becomes $NGINX_ENVSUBST_OUTPUT_DIR/<name without .template>, with only the variables
# that are set replaced (nginx's own $host, $scheme… are left alone).
set -eu
if [ "${1:-}" = nginx ]; then
    output=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
    defined=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/${\1}/p' | tr '\n' ' ')
    for template in /etc/nginx/templates/*.template; do
        [ -f "$template" ] || continue
        target="$output/$(basename "$template" .template)"
        echo "docker-entrypoint: $template -> $target"
        envsubst "$defined" <"$template" >"$target"
    done
fi
exec "$@"
