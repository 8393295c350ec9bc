#!/usr/bin/env bash
# problema7: el proxy frente a tinyproxy, los dos delante del mismo nginx, en la misma
# ejecución.
#
# 1. Peticiones por segundo con wrk (64 conexiones, fichero de 1 KiB): nginx directo, a
#    través de nuestro proxy y a través de tinyproxy. Un script Lua pone la forma absoluta
#    (`GET http://127.0.0.1:NGINX/f1k`), la que recibe un proxy explícito. Al lado, el mismo
#    proxy en modo transparente (`--transparent`, otro proceso): forma de origen (`GET /f1k`)
#    con `Host: 127.0.0.1:NGINX`, como la envía un cliente que no sabe que hay proxy (sin
#    redirección del núcleo: el destino sale de `Host`).
# 2. Caudal de un túnel CONNECT: curl descarga un fichero grande de nginx directamente, con
#    `curl -p -x` por nuestro proxy y con `curl -p -x` por tinyproxy (ConnectPort al puerto de
#    nginx). Como referencia, dos relés TCP sin CONNECT: socat -b 65536 (copia por el espacio
#    de usuario) y, si está instalado, HAProxy en modo TCP con splice: lo que cuesta
#    cualquier salto intermedio en esta máquina.
#
#   bash bench/proxy.sh            # wrk 10 s por caso (mejor de 3 tandas), túnel de 1 GiB (mejor de 5)
#   QUICK=1 bash bench/proxy.sh    # wrk 2 s, túnel de 64 MiB, una vez: solo demuestra que funciona
#   P7_BIN=ruta bash bench/proxy.sh  # mide ese binario del proxy en vez de compilar este árbol
#   P7_BASE=ruta bash bench/proxy.sh # añade otra versión del proxy (p. ej. la de main) a las
#                                    # mismas tandas de wrk: compara dos versiones con menos
#                                    # ruido que dos ejecuciones separadas
#   SECS=, CONNS=, WRK_ROUNDS=, BIG_MIB=, ROUNDS= cambian la duración de wrk, las conexiones,
#   las tandas de wrk, el tamaño del fichero del túnel y las rondas de descarga.
#   MISMA_SESION=1 arranca los servidores en la sesión del guion (véase own_session en lib.sh).
#
# Necesita nginx, tinyproxy, wrk, curl, socat y python3, y haproxy si se quiere su fila:
# `sudo apt-get install -y nginx tinyproxy wrk curl socat python3 haproxy` en Debian/Ubuntu,
# o `INSTALAR=1` como root para que el guion los instale (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-10}; CONNS=${CONNS:-64}; BIG_MIB=${BIG_MIB:-1024}; ROUNDS=${ROUNDS:-5}; WRK_ROUNDS=${WRK_ROUNDS:-3}
if [ "${QUICK:-}" = 1 ]; then SECS=2; BIG_MIB=64; ROUNDS=1; WRK_ROUNDS=1; fi
source bench/lib.sh   # need_tools, want_tools, free_port, wait_port, best, own_session
need_tools nginx tinyproxy wrk curl socat python3

WORK=$(mktemp -d /tmp/bench-proxy.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# P7_BIN=ruta usa ese binario del proxy ya compilado (por ejemplo, el de otra versión, para
# comparar dos versiones con las mismas referencias) en lugar de compilar este árbol.
if [ -n "${P7_BIN:-}" ]; then
    cp "$P7_BIN" "$WORK/p7-servidor"
else
    cargo build -q --release -p problema7
    cp "${CARGO_TARGET_DIR:-target}"/release/servidor "$WORK/p7-servidor"
fi

P_NGINX=$(free_port); P_OURS=$(free_port); P_TINY=$(free_port); P_SOCAT=$(free_port); P_TRANS=$(free_port)

# --- nginx: origen común, un fichero de 1 KiB y uno grande ---
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom > "$WORK/www/f1k"
head -c "${BIG_MIB}M" /dev/zero > "$WORK/www/grande"
chmod -R a+rX "$WORK/www"
cat > "$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log error;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $WORK/www;
    }
}
EOF
own_session nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" & PIDS+=($!)

# --- tinyproxy: loopback, sin registro, CONNECT permitido al puerto de nginx ---
cat > "$WORK/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port $P_TINY
Listen 127.0.0.1
Timeout 60
MaxClients 256
Allow 127.0.0.1
ConnectPort $P_NGINX
LogLevel Critical
EOF
own_session tinyproxy -d -c "$WORK/tinyproxy.conf" >/dev/null 2>&1 & PIDS+=($!)

# --- nuestro proxy: registro de accesos apagado (RUST_LOG=warn), CONNECT al puerto de nginx ---
RUST_LOG=warn own_session "$WORK/p7-servidor" --port "$P_OURS" --connect-ports "$P_NGINX" >/dev/null & PIDS+=($!)
# Otra versión del proxy, en las mismas tandas (P7_BASE).
P_BASE=""
if [ -n "${P7_BASE:-}" ]; then
    P_BASE=$(free_port)
    cp "$P7_BASE" "$WORK/p7-base"
    RUST_LOG=warn own_session "$WORK/p7-base" --port "$P_BASE" --connect-ports "$P_NGINX" >/dev/null & PIDS+=($!)
fi

# El mismo binario en modo transparente (si lo tiene: P7_BIN puede ser una versión anterior).
TRANS=""
if "$WORK/p7-servidor" --help | grep -q -- --transparent; then
    TRANS=1
    RUST_LOG=warn own_session "$WORK/p7-servidor" --port "$P_TRANS" --transparent >/dev/null & PIDS+=($!)
fi

# --- socat: relé TCP de referencia hacia nginx (sin HTTP) ---
own_session socat -b65536 "TCP-LISTEN:$P_SOCAT,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$P_NGINX" & PIDS+=($!)

# --- HAProxy en modo TCP con splice, si está instalado: el mejor relé del oficio, como techo
#     de lo que cuesta un salto intermedio en esta máquina ---
P_HAP=""
if want_tools haproxy; then
    P_HAP=$(free_port)
    cat > "$WORK/haproxy.cfg" <<EOF
global
    maxconn 1024
defaults
    mode tcp
    option splice-auto
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:$P_HAP
    default_backend origen
backend origen
    server nginx 127.0.0.1:$P_NGINX
EOF
    own_session haproxy -db -f "$WORK/haproxy.cfg" >/dev/null 2>&1 & PIDS+=($!)
fi

wait_port "$P_NGINX"; wait_port "$P_TINY"; wait_port "$P_OURS"; wait_port "$P_SOCAT"
[ -z "$TRANS" ] || wait_port "$P_TRANS"
[ -z "$P_BASE" ] || wait_port "$P_BASE"
[ -z "$P_HAP" ] || wait_port "$P_HAP"
sleep 0.3

# Comprobación previa: los tres caminos devuelven el fichero.
for via in "" "-x http://127.0.0.1:$P_OURS" "-x http://127.0.0.1:$P_TINY"; do
    # shellcheck disable=SC2086
    got=$(curl -sS $via "http://127.0.0.1:$P_NGINX/f1k" | wc -c)
    [ "$got" = 1024 ] || { echo "el camino '$via' no devolvió el fichero ($got bytes)" >&2; exit 1; }
done
if [ -n "$TRANS" ]; then
    got=$(curl -sS --connect-to "127.0.0.1:$P_NGINX:127.0.0.1:$P_TRANS" "http://127.0.0.1:$P_NGINX/f1k" | wc -c)
    [ "$got" = 1024 ] || { echo "el proxy transparente no devolvió el fichero ($got bytes)" >&2; exit 1; }
fi

cat > "$WORK/absoluta.lua" <<EOF
wrk.path = "http://127.0.0.1:$P_NGINX/f1k"
wrk.headers["Host"] = "127.0.0.1:$P_NGINX"
EOF
cat > "$WORK/transparente.lua" <<EOF
wrk.path = "/f1k"
wrk.headers["Host"] = "127.0.0.1:$P_NGINX"
EOF

# wrk → "peticiones/s errores" (errores = de socket + respuestas no 2xx/3xx). tinyproxy
# cierra la conexión tras cada respuesta: wrk lo cuenta como error de lectura y reconecta.
run_wrk() {
    local rps errs
    read -r rps errs _ < <(wrk -t2 -c"$CONNS" -d"${SECS}s" "$@" | wrk_numbers)
    echo "$rps $errs"
}

# WRK_ROUNDS tandas alternas (directo, nuestro, tinyproxy); de cada camino se da la mejor y se
# suman los errores de todas.
rps_d=(); rps_o=(); rps_t=(); rps_r=(); rps_b=(); d_err=0; o_err=0; t_err=0; r_err=0
for round in $(seq "$WRK_ROUNDS"); do
    read -r rps err < <(run_wrk "http://127.0.0.1:$P_NGINX/f1k")
    rps_d+=("$rps"); d_err=$((d_err + err))
    read -r rps err < <(run_wrk -s "$WORK/absoluta.lua" "http://127.0.0.1:$P_OURS/")
    rps_o+=("$rps"); o_err=$((o_err + err))
    if [ -n "$TRANS" ]; then
        read -r rps err < <(run_wrk -s "$WORK/transparente.lua" "http://127.0.0.1:$P_TRANS/")
    else
        rps=0; err=0
    fi
    rps_r+=("$rps"); r_err=$((r_err + err))
    if [ -n "$P_BASE" ]; then
        read -r rps _ < <(run_wrk -s "$WORK/absoluta.lua" "http://127.0.0.1:$P_BASE/")
        rps_b+=("$rps")
    fi
    read -r rps err < <(run_wrk -s "$WORK/absoluta.lua" "http://127.0.0.1:$P_TINY/")
    rps_t+=("$rps"); t_err=$((t_err + err))
    echo "tanda $round de wrk: directo ${rps_d[-1]}, nuestro ${rps_o[-1]}, transparente ${rps_r[-1]}, tinyproxy ${rps_t[-1]} req/s" >&2
done
d_rps=$(printf '%s\n' "${rps_d[@]}" | best)
o_rps=$(printf '%s\n' "${rps_o[@]}" | best)
t_rps=$(printf '%s\n' "${rps_t[@]}" | best)
r_rps=$(printf '%s\n' "${rps_r[@]}" | best)
[ -z "$P_BASE" ] || b_rps=$(printf '%s\n' "${rps_b[@]}" | best)

# Caudal de descarga en MB/s: el mejor de ROUNDS intentos por camino, con los caminos
# alternados en cada ronda para que el ruido de la máquina compartida les afecte por igual.
# Antes, una descarga de calentamiento deja el fichero en la caché de páginas.
curl -sS -o /dev/null "http://127.0.0.1:$P_NGINX/grande"
speed() { curl -sS -o /dev/null -w '%{speed_download}' "$@" "http://127.0.0.1:${PORT:-$P_NGINX}/grande"; }
best_mbs() { python3 -c "import sys; print(f'{max(map(float, sys.argv[1:]))/1e6:.0f}')" "$@"; }
dl_d=(); dl_o=(); dl_t=(); dl_s=(); dl_h=(0)
for _ in $(seq "$ROUNDS"); do
    dl_d+=("$(speed)")
    dl_o+=("$(speed -p -x "http://127.0.0.1:$P_OURS")")
    dl_t+=("$(speed -p -x "http://127.0.0.1:$P_TINY")")
    dl_s+=("$(PORT=$P_SOCAT speed)")
    [ -z "$P_HAP" ] || dl_h+=("$(PORT=$P_HAP speed)")
done
dl_direct=$(best_mbs "${dl_d[@]}"); dl_ours=$(best_mbs "${dl_o[@]}"); dl_tiny=$(best_mbs "${dl_t[@]}")
dl_socat=$(best_mbs "${dl_s[@]}"); dl_hap=$(best_mbs "${dl_h[@]}")

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "| medida | nginx directo | problema7 | tinyproxy | problema7/tinyproxy | problema7/directo |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| peticiones/s, 1 KiB, $CONNS conexiones, ${SECS} s, mejor de $WRK_ROUNDS | $d_rps | $o_rps | $t_rps | $(ratio "$o_rps" "$t_rps") | $(ratio "$o_rps" "$d_rps") |"
echo "| errores (socket + no 2xx) | $d_err | $o_err | $t_err | | |"
if [ -n "$TRANS" ]; then
    echo "| peticiones/s, problema7 --transparent (Host), mismas condiciones | $d_rps | $r_rps | $t_rps | $(ratio "$r_rps" "$t_rps") | $(ratio "$r_rps" "$d_rps") |"
    echo "| errores del transparente | | $r_err | | | |"
fi
echo "| túnel CONNECT, MB/s ($BIG_MIB MiB, mejor de $ROUNDS) | $dl_direct | $dl_ours | $dl_tiny | $(ratio "$dl_ours" "$dl_tiny") | $(ratio "$dl_ours" "$dl_direct") |"
echo
[ -z "$TRANS" ] || echo "Transparente/explícito (peticiones/s): $(ratio "$r_rps" "$o_rps")."
[ -z "$P_BASE" ] || echo "P7_BASE: $b_rps peticiones/s; este árbol/P7_BASE = $(ratio "$o_rps" "$b_rps") (P7_BASE/tinyproxy = $(ratio "$b_rps" "$t_rps"))."
echo "Referencia: relé TCP socat -b65536 (sin CONNECT) hacia el mismo nginx: $dl_socat MB/s ($(ratio "$dl_socat" "$dl_direct") del directo; problema7/socat = $(ratio "$dl_ours" "$dl_socat"))."
if [ -n "$P_HAP" ]; then
    echo "Referencia: HAProxy en modo TCP con splice (sin CONNECT) hacia el mismo nginx: $dl_hap MB/s ($(ratio "$dl_hap" "$dl_direct") del directo; problema7/HAProxy = $(ratio "$dl_ours" "$dl_hap"))."
fi
