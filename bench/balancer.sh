#!/usr/bin/env bash
# problema9: el balanceador frente a HAProxy (`mode tcp`, `balance roundrobin`), delante de
# los mismos dos servidores nginx, en una sola ejecución.
#
#   bench/balancer.sh            # medida completa: wrk 1 KiB (64 conexiones) y descarga de 1 GiB
#   QUICK=1 bench/balancer.sh    # versión corta que solo demuestra que el guion funciona
#
# Variables: QUICK=1, WRK_SECS (duración de cada tanda de wrk), ROUNDS (tandas alternas por
# balanceador; se da la mejor), BIG_MIB (tamaño del fichero grande), SERVIDOR (binario ya
# compilado con la orden `balanceador`, para no recompilar), LB_ARGS (opciones extra para el
# balanceador, por ejemplo `--strategy least-connections`), MISMA_SESION=1 (los servidores
# en la sesión del guion en vez de cada uno en la suya: véase own_session en bench/lib.sh).
#
# Necesita wrk, nginx, haproxy, curl y python3: `sudo apt-get install -y wrk nginx haproxy curl
# python3` en Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale.
#
# Todo escucha en 127.0.0.1 en puertos libres; nginx, HAProxy y el balanceador se matan por
# PID al salir. Los resultados se dan como cocientes frente a HAProxy medido en la misma
# ejecución: la máquina es compartida y los valores absolutos varían.
set -euo pipefail

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
    WRK_SECS=${WRK_SECS:-2}
    ROUNDS=${ROUNDS:-1}
    BIG_MIB=${BIG_MIB:-32}
else
    WRK_SECS=${WRK_SECS:-10}
    ROUNDS=${ROUNDS:-3}
    BIG_MIB=${BIG_MIB:-1024}
fi
CONNS=64

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-p9-balanceador.XXXXXX)
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/lib.sh"   # need_tools, free_port, wait_port, own_session
need_tools wrk nginx haproxy curl python3

# 1. El binario, compilado en release y copiado a un nombre propio antes de compilar nada más
#    (todos los problemas tienen un binario `servidor`).
if [[ -z "${SERVIDOR:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p problema9 --bin servidor)
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    cp "$TARGET_DIR/release/servidor" "$WORK/servidor-p9"
    SERVIDOR="$WORK/servidor-p9"
fi
if ! "$SERVIDOR" balanceador --help >/dev/null 2>&1; then
    echo "$SERVIDOR no tiene la orden 'balanceador'" >&2
    exit 1
fi

# 2. Los ficheros y los dos nginx (un proceso, dos puertos, sin registro de accesos).
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$WORK/www/big.bin"
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
# Los procesos de nginx pueden correr con otro usuario: que puedan leer los ficheros.
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/"*

N1=$(free_port); N2=$(free_port); HAP=$(free_port); LB=$(free_port); LB_CTL=$(free_port)

cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:$N1; root $WORK/www; }
    server { listen 127.0.0.1:$N2; root $WORK/www; }
}
EOF
own_session nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr" &
PIDS+=($!)

cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 3s
    timeout client 300s
    timeout server 300s
frontend fe
    bind 127.0.0.1:$HAP
    default_backend nginx
backend nginx
    balance roundrobin
    server n1 127.0.0.1:$N1 check inter 2s fall 3 rise 2
    server n2 127.0.0.1:$N2 check inter 2s fall 3 rise 2
EOF
own_session haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)
HAP_PID=$!

RUST_LOG=warn own_session "$SERVIDOR" balanceador --port "$LB" --control-port "$LB_CTL" \
    --backend "127.0.0.1:$N1" --backend "127.0.0.1:$N2" ${LB_ARGS:-} >"$WORK/lb.out" 2>"$WORK/lb.err" &
PIDS+=($!)
LB_PID=$!

for port in "$N1" "$N2" "$HAP" "$LB" "$LB_CTL"; do wait_port "$port"; done
grep -q "escuchando en" "$WORK/lb.out" || { echo "el balanceador no imprimió su línea" >&2; exit 1; }

# 3. Medidas, alternando HAProxy y el nuestro en cada tanda.
wrk_run() { # puerto pid -> "req/s errores µs-de-CPU-por-petición"
    local out before after
    before=$(cpu_ticks "$2")
    out=$(wrk -t2 -c"$CONNS" -d"${WRK_SECS}s" --timeout 5s "http://127.0.0.1:$1/1k.bin")
    after=$(cpu_ticks "$2")
    local rps errs reqs cpu_us
    read -r rps errs reqs < <(wrk_numbers <<<"$out")
    # El coste en CPU del balanceador por petición depende mucho menos de la carga ajena que
    # las peticiones por segundo.
    cpu_us=$(python3 -c "print(f'{($after - $before) * 1e6 / $(getconf CLK_TCK) / max(${reqs:-0}, 1):.1f}')")
    echo "$rps $errs $cpu_us"
}

bulk_run() { # puerto -> "MiB/s bytes"
    local out
    out=$(curl -sS -o /dev/null --max-time 300 -w '%{speed_download} %{size_download}' \
        "http://127.0.0.1:$1/big.bin")
    awk '{printf "%.1f %d\n", $1 / 1048576, $2}' <<<"$out"
}

least() { grep . | sort -g | head -1; }

declare -A RPS BULK CPU
ERRORS=0
for name in haproxy nuestro; do RPS[$name]=""; BULK[$name]=""; CPU[$name]=""; done

echo "== wrk -c$CONNS ${WRK_SECS}s, 1 KiB; descarga de $BIG_MIB MiB; $ROUNDS tandas =="
# Calentamiento corto (conexiones de nginx, caché de páginas del fichero grande).
wrk -t1 -c4 -d1s "http://127.0.0.1:$N1/1k.bin" >/dev/null
curl -sS -o /dev/null "http://127.0.0.1:$N1/big.bin"

for round in $(seq 1 "$ROUNDS"); do
    for name in haproxy nuestro; do
        port=$HAP; pid=$HAP_PID
        if [[ $name == nuestro ]]; then port=$LB; pid=$LB_PID; fi
        read -r rps errs cpu < <(wrk_run "$port" "$pid")
        ERRORS=$((ERRORS + errs))
        RPS[$name]+="$rps"$'\n'
        CPU[$name]+="$cpu"$'\n'
        read -r mibs bytes < <(bulk_run "$port")
        if [[ "$bytes" != "$BIG_BYTES" ]]; then
            echo "  $name: descarga incompleta ($bytes de $BIG_BYTES bytes)" >&2
            ERRORS=$((ERRORS + 1))
        fi
        BULK[$name]+="$mibs"$'\n'
        printf '  tanda %d %-8s %10s req/s (%6s µs CPU/petición)  %8s MiB/s  errores %s\n' \
            "$round" "$name" "$rps" "$cpu" "$mibs" "$errs"
    done
done

H_RPS=$(best <<<"${RPS[haproxy]}"); O_RPS=$(best <<<"${RPS[nuestro]}")
H_BULK=$(best <<<"${BULK[haproxy]}"); O_BULK=$(best <<<"${BULK[nuestro]}")
H_CPU=$(least <<<"${CPU[haproxy]}"); O_CPU=$(least <<<"${CPU[nuestro]}")
ratio() { python3 -c "print(f'{100*float($1)/float($2):.0f}%' if float($2) > 0 else 'n/a')"; }

echo
echo "| medida | HAProxy | balanceador | cociente | objetivo |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| wrk 1 KiB, $CONNS conexiones (req/s, mejor de $ROUNDS) | $H_RPS | $O_RPS | $(ratio "$O_RPS" "$H_RPS") | >= 80% |"
echo "| CPU del balanceador por petición (µs, la menor de $ROUNDS) | $H_CPU | $O_CPU | $(ratio "$O_CPU" "$H_CPU") | |"
echo "| descarga de $BIG_MIB MiB (MiB/s, mejor de $ROUNDS) | $H_BULK | $O_BULK | $(ratio "$O_BULK" "$H_BULK") | >= 100% |"
echo "| errores (wrk + descargas incompletas) | | | $ERRORS | 0 |"

if [[ "$ERRORS" != 0 ]]; then
    exit 1
fi
