#!/usr/bin/env bash
# Carga del problema 8: N partidas de tres en raya a la vez (2·N jugadores bot que juegan al
# azar, más espectadores repartidos entre las partidas), con `bench/src/bin/ttt_load.rs`.
# Mide partidas por segundo, la latencia de jugada (MOVE enviado -> MOVED recibido por los dos
# jugadores y por todos los espectadores de esa partida: p50, p99, máx.), los errores de
# protocolo y la memoria máxima del servidor (VmHWM). No hay una herramienta de referencia con
# la que comparar: las cifras son absolutas.
#
# Uso: bench/ttt.sh                       (1.000 partidas y 200 espectadores)
#      QUICK=1 bench/ttt.sh               (20 partidas: solo demuestra que funciona)
#      GAMES=500 SPECTATORS=50 THINK_MS=20 bench/ttt.sh
#
# El servidor se lanza con --max-connections suficiente para todos y se sube `ulimit -n`
# (cada conexión es un descriptor en el servidor y otro en el generador).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh   # wait_ready

OUT=${BENCH_DIR:-/tmp/bench-p8}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$OUT"

if [ "${QUICK:-0}" = 1 ]; then
    GAMES=${GAMES:-20}
    SPECTATORS=${SPECTATORS:-5}
else
    GAMES=${GAMES:-1000}
    SPECTATORS=${SPECTATORS:-200}
fi
THINK_MS=${THINK_MS:-0}
CONNECTIONS=$((2 * GAMES + SPECTATORS + 64))

# Descriptores: el servidor y el generador comparten este límite (lo heredan de este shell).
WANT_FILES=$((2 * CONNECTIONS + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$WANT_FILES" ]; then
    ulimit -n "$WANT_FILES" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi

# Compilar cada binario y copiarlo a un nombre propio antes de compilar el siguiente: en el
# workspace todos los `servidor` comparten ruta.
cargo build --release -q -p problema8 --bin servidor
cp "$TARGET_DIR/release/servidor" "$OUT/servidor"
cargo build --release -q -p bench --bin ttt_load
cp "$TARGET_DIR/release/ttt_load" "$OUT/ttt_load"

SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT

LOG="$OUT/servidor.out"
: >"$LOG"
RUST_LOG=warn "$OUT/servidor" --port 0 --max-connections "$CONNECTIONS" \
    >"$LOG" 2>"$OUT/servidor.err" &
SERVER_PID=$!
wait_ready "$LOG" || { echo "el servidor no arrancó" >&2; exit 1; }
PORT=$READY_PORT

echo "== problema8: $GAMES partidas, $SPECTATORS espectadores, pausa $THINK_MS ms, ulimit -n $(ulimit -n), $(nproc) núcleos =="
timeout 300 "$OUT/ttt_load" --addr "127.0.0.1:$PORT" --games "$GAMES" \
    --spectators "$SPECTATORS" --think-ms "$THINK_MS" --server-pid "$SERVER_PID"
