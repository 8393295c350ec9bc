#!/usr/bin/env bash
# Difusión del chat de problema3: N clientes en una sala, cada uno envía M mensajes
# (N·(N-1)·M entregas). Mide entregas por segundo, mediana y p99 de la latencia de entrega y
# la memoria máxima del servidor, para N = 10, 100 y 1000, con `bench/src/bin/chat_load.rs`.
# La última columna es la CPU del servidor (usuario + sistema) por entrega durante la
# difusión, en microsegundos: en una máquina compartida varía menos que el tiempo de reloj.
#
# Uso: bench/chat.sh            (medida completa, menos de un minuto por fila)
#      QUICK=1 bench/chat.sh    (tamaños pequeños: solo demuestra que funciona)
#
# La referencia es redis-server (un canal PUBLISH/SUBSCRIBE: la misma difusión a N
# suscriptores) en la misma ejecución; se omite con un aviso si no está instalado.
#
# Necesita python3 y, para la referencia, redis-server: `sudo apt-get install -y python3
# redis-server` en Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale.
#
# El servidor se lanza con el límite de ritmo por cliente desactivado (`--rate-limit`), porque
# lo que se mide es la difusión, no la protección contra inundaciones; el resto de límites
# (cola de 1024 mensajes por cliente, 1024 conexiones) son los de por omisión.
set -euo pipefail
cd "$(dirname "$0")/.."

source bench/lib.sh   # need_tools, want_tools, wait_ready
need_tools python3

OUT=${BENCH_DIR:-/tmp/bench-p3}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

# Compilar cada binario y copiarlo a un nombre propio antes de compilar el siguiente: en el
# workspace todos los `servidor` comparten ruta.
cargo build --release -q -p problema3 --bin servidor
cp "$TARGET_DIR/release/servidor" "$OUT/servidor"
cargo build --release -q -p bench --bin chat_load
cp "$TARGET_DIR/release/chat_load" "$OUT/chat_load"

if [ "${QUICK:-0}" = 1 ]; then
    CASES="10:20 50:4"
else
    # M se elige para que cada fila tenga unos 3 millones de entregas (N·(N-1)·M).
    CASES="10:33000 100:300 1000:3"
fi

SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${REDIS_DIR:-}" ]; then rm -rf "$REDIS_DIR"; fi
}
trap cleanup EXIT

start_problema3() {
    local log="$OUT/servidor.out"
    : >"$log"
    RUST_LOG=warn "$OUT/servidor" --port 0 --rate-limit 1e9 --rate-burst 4000000000 \
        >"$log" 2>"$OUT/servidor.err" &
    SERVER_PID=$!
    if wait_ready "$log"; then
        PORT=$READY_PORT
        return 0
    fi
    echo "el servidor no arrancó" >&2
    exit 1
}

# La referencia: redis-server con un canal PUBLISH/SUBSCRIBE, sin persistencia, en un puerto
# libre (redis no acepta `--port 0` para "cualquiera": lo elige python3).
start_redis() {
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    REDIS_DIR=$(mktemp -d)
    (cd "$REDIS_DIR" && exec redis-server --port "$PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --maxclients 4096 >"$OUT/redis.out" 2>&1) &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if grep -q "Ready to accept connections" "$OUT/redis.out" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "redis-server no arrancó" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

HAVE_REDIS=1
if ! want_tools redis-server; then
    echo "AVISO: se mide solo problema3" >&2
    HAVE_REDIS=0
fi

declare -A RESULT
# measure TARGET N M: deja en RESULT la línea clave=valor de chat_load.
measure() {
    local target=$1 n=$2 m=$3
    if [ "$target" = redis ]; then start_redis; else start_problema3; fi
    local line
    line=$(timeout 120 "$OUT/chat_load" --target "$target" --port "$PORT" --clients "$n" \
        --messages "$m" --pid "$SERVER_PID" --timeout 60)
    stop_server
    for kv in $line; do
        RESULT[${kv%%=*}]=${kv#*=}
    done
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }'
}

row() {
    printf '%-6s %-6s %-10s %-10s %-9s %-12s %-11s %-8s %-8s %-8s\n' "$@"
}

row N M servidor entregas perdidas entregas/s mediana_ms p99_ms rss_MiB us_cpu/e
BASE_RATE=""
SUMMARY=()
for case in $CASES; do
    n=${case%%:*}
    m=${case##*:}
    measure p3 "$n" "$m"
    p3_rate=${RESULT[entregas_por_s]}
    row "$n" "$m" problema3 "${RESULT[entregas]}" "${RESULT[perdidas]}" "$p3_rate" \
        "${RESULT[mediana_ms]}" "${RESULT[p99_ms]}" "${RESULT[rss_pico_mib]}" \
        "${RESULT[us_cpu_por_entrega]}"
    if [ -z "$BASE_RATE" ]; then BASE_RATE=$p3_rate; fi
    line="N=$n: problema3 da $(ratio "$p3_rate" "$BASE_RATE")x las entregas/s de N=${CASES%%:*}"
    if [ "$HAVE_REDIS" = 1 ]; then
        measure redis "$n" "$m"
        row "$n" "$m" redis "${RESULT[entregas]}" "${RESULT[perdidas]}" \
            "${RESULT[entregas_por_s]}" "${RESULT[mediana_ms]}" "${RESULT[p99_ms]}" \
            "${RESULT[rss_pico_mib]}" "${RESULT[us_cpu_por_entrega]}"
        line="$line y $(ratio "$p3_rate" "${RESULT[entregas_por_s]}")x las de redis"
    fi
    SUMMARY+=("$line")
done
echo
printf '%s\n' "${SUMMARY[@]}"
