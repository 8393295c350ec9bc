#!/usr/bin/env bash
# problema4 y problema7 frente a nginx con REDbot (PyPI `redbot`, "lint for HTTP"): los mismos
# ficheros servidos por nginx, por el servidor del problema 4 y por el proxy del problema 7 en
# modo inverso delante del 4. Para cada URL (una página, un fichero grande, un listado, un
# 404) REDbot hace la petición y además sus propias pruebas: una condicional (el 304), un
# rango (el 206) y una con compresión. Se imprimen las notas de nivel WARN y BAD de cada
# servidor; la regla del proyecto es que la lista del nuestro no sea peor que la de nginx.
#
#   bench/redbot.sh                 # compila problema4 y problema7 en release y compara
#   P4=ruta P7=ruta bench/redbot.sh # con binarios ya compilados
#
# Necesita nginx y python3 (`sudo apt-get install -y nginx python3 python3-venv` en
# Debian/Ubuntu) y redbot de PyPI (`python3 -m venv ~/.cache/taller-redes/venv &&
# ~/.cache/taller-redes/venv/bin/pip install redbot`); con `INSTALAR=1`, como root, el guion
# lo instala todo (bench/lib.sh).
#
# Todo escucha en 127.0.0.1 en puertos libres; REDbot solo habla con esas direcciones (sin
# `--assets`, no sigue enlaces). Los servidores se matan por PID al salir.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-redbot.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/lib.sh" # need_tools, free_port, wait_port, own_session
need_tools redbot nginx python3

build() { # paquete -> ruta del binario copiado
    (cd "$ROOT" && cargo build -q --release -p "$1" --bin servidor)
    cp "${CARGO_TARGET_DIR:-$ROOT/target}/release/servidor" "$WORK/servidor-$1"
    echo "$WORK/servidor-$1"
}
P4=${P4:-$(build problema4)}
P7=${P7:-$(build problema7)}

mkdir -p "$WORK/www/dir" "$WORK/nginx"
printf '<!DOCTYPE html>\n<html lang="es"><head><meta charset="utf-8"><title>Hola</title></head><body><h1>Hola</h1></body></html>\n' \
    >"$WORK/www/index.html"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$WORK/www/big.bin"
echo hola >"$WORK/www/dir/a.txt"
chmod -R a+rX "$WORK"

P_NGINX=$(free_port); P_OURS=$(free_port); P_PROXY=$(free_port)
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:$P_NGINX; root $WORK/www; autoindex on; }
}
EOF
own_session nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr" &
PIDS+=($!)
RUST_LOG=warn own_session "$P4" --port "$P_OURS" --dir "$WORK/www" >"$WORK/p4.out" 2>&1 &
PIDS+=($!)
for port in "$P_NGINX" "$P_OURS"; do wait_port "$port"; done
RUST_LOG=warn own_session "$P7" --port "$P_PROXY" --upstream "127.0.0.1:$P_OURS" \
    >"$WORK/p7.out" 2>&1 &
PIDS+=($!)
wait_port "$P_PROXY"

# Las notas WARN y BAD de REDbot para una URL, una por línea: `NIVEL NOTA: resumen`.
notes() {
    timeout 120 redbot -o har "$1" 2>/dev/null | python3 -c '
import json, sys
entries = json.load(sys.stdin)["log"]["entries"]
for e in entries:
    for n in e.get("_red_messages", []):
        if n["level"] in ("WARN", "BAD"):
            print(n["level"], n["note_id"] + ":", n["summary"])
' | sort -u
}

status=0
for path in /index.html /big.bin /dir/ /no-existe; do
    for server in "nginx:$P_NGINX" "problema4:$P_OURS" "problema7→problema4:$P_PROXY"; do
        name=${server%%:*}; port=${server##*:}
        echo "== $name $path"
        list=$(notes "http://127.0.0.1:$port$path")
        if [[ -z "$list" ]]; then echo "   (ninguna)"; else sed 's/^/   /' <<<"$list"; fi
        printf '%s\n' "$list" >"$WORK/$name-${path//\//_}.txt"
    done
    # Lo que el nuestro tiene de más frente a nginx (por identificador de nota).
    for name in problema4 "problema7→problema4"; do
        extra=$(comm -13 <(cut -d: -f1 "$WORK/nginx-${path//\//_}.txt" | sort -u) \
            <(cut -d: -f1 "$WORK/$name-${path//\//_}.txt" | sort -u) | sed '/^$/d')
        if [[ -n "$extra" ]]; then
            echo "!! $name $path tiene notas que nginx no tiene: $extra"
            status=1
        fi
    done
done
exit $status
