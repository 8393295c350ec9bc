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
# El servidor se lanza con el límite de ritmo por cliente desactivado (`--rate-limit`), porque
# lo que se mide es la difusión, no la protección contra inundaciones; el resto de límites
# (cola de 1024 mensajes por cliente, 1024 conexiones) son los de por omisión.
set -euo pipefail
cd "$(dirname "$0")/.."

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
}
trap cleanup EXIT

start_server() {
    local log="$OUT/servidor.out"
    : >"$log"
    RUST_LOG=warn "$OUT/servidor" --port 0 --rate-limit 1e9 --rate-burst 4000000000 \
        >"$log" 2>"$OUT/servidor.err" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if grep -q "escuchando en" "$log"; then
            PORT=$(sed -n 's/.*escuchando en .*:\([0-9]*\)$/\1/p' "$log" | head -n1)
            return 0
        fi
        sleep 0.05
    done
    echo "el servidor no arrancó" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

declare -A RESULT
printf '%-6s %-6s %-10s %-9s %-12s %-11s %-8s %-8s %-8s\n' \
    N M entregas perdidas entregas/s mediana_ms p99_ms rss_MiB us_cpu/e
BASE_RATE=""
for case in $CASES; do
    n=${case%%:*}
    m=${case##*:}
    start_server
    line=$(timeout 120 "$OUT/chat_load" --port "$PORT" --clients "$n" --messages "$m" \
        --pid "$SERVER_PID" --timeout 60)
    stop_server
    for kv in $line; do
        RESULT[${kv%%=*}]=${kv#*=}
    done
    rate=${RESULT[entregas_por_s]}
    if [ -z "$BASE_RATE" ]; then BASE_RATE=$rate; fi
    ratio=$(awk -v a="$rate" -v b="$BASE_RATE" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')
    printf '%-6s %-6s %-10s %-9s %-12s %-11s %-8s %-8s %-8s (%sx las entregas/s de N=%s)\n' \
        "$n" "$m" "${RESULT[entregas]}" "${RESULT[perdidas]}" "$rate" \
        "${RESULT[mediana_ms]}" "${RESULT[p99_ms]}" "${RESULT[rss_pico_mib]}" \
        "${RESULT[us_cpu_por_entrega]}" "$ratio" "${CASES%%:*}"
done
