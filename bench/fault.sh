#!/usr/bin/env bash
# problema9 (parte 2): inyección de fallos. Tres procesos nodo y el balanceador; clientes
# concurrentes (bench/src/bin/p9_fault.rs) escriben claves propias y compartidas y leen a
# través del balanceador mientras este script mata un nodo con SIGKILL y lo rearranca, una y
# otra vez. Al final se comprueba el historial (ninguna lectura más vieja que una escritura ya
# confirmada) y que cada clave se lee desde cada nodo con su último valor confirmado.
#
# Uso: bench/fault.sh              (60 s de carga, un SIGKILL cada ~3 s)
#      QUICK=1 bench/fault.sh      (10 s, prueba que el script funciona)
#      FSYNC=never bench/fault.sh  (política de fsync de los nodos; por omisión always)
# Sale con código distinto de 0 si hay alguna violación.
set -euo pipefail

QUICK="${QUICK:-0}"
FSYNC="${FSYNC:-always}"
if [[ "$QUICK" == "1" ]]; then DURATION="${DURATION:-10}"; else DURATION="${DURATION:-60}"; fi
INTERVAL="${INTERVAL:-3}"
WORKERS="${WORKERS:-8}"
BASE="${BASE_PORT:-18300}"
BAL=$((BASE + 9)); CTRL=$((BASE + 19))

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/bench-p9fault.XXXXXX)"
declare -A NODE_PID
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}" "${NODE_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}" "${NODE_PID[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== compilando problema9 y el comprobador (release)"
(cd "$ROOT" && cargo build --release -q -p problema9)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cp "$TARGET/release/servidor" "$WORK/servidor"
(cd "$ROOT" && cargo build --release -q -p bench --bin p9_fault)
cp "$TARGET/release/p9_fault" "$WORK/p9_fault"

start_node() {
    local i=$1 peers=()
    for j in 1 2 3; do
        [[ $i == "$j" ]] || peers+=(--peer "127.0.0.1:$((BASE + 40 + j))")
    done
    RUST_LOG=warn "$WORK/servidor" nodo --id "n$i" --data-dir "$WORK/n$i" \
        --port $((BASE + 30 + i)) --peer-port $((BASE + 40 + i)) "${peers[@]}" \
        --balancer "127.0.0.1:$CTRL" --cluster-size 3 --fsync "$FSYNC" --quorum-timeout-ms 1000 \
        >>"$WORK/n$i.out" 2>>"$WORK/n$i.err" &
    NODE_PID[$i]=$!
}

"$WORK/servidor" balanceador --port "$BAL" --control-port "$CTRL" --check ping \
    --check-interval 300ms --check-timeout 500ms --fall 1 --rise 1 \
    >"$WORK/bal.out" 2>"$WORK/bal.err" &
PIDS+=($!)
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do
    for _ in $(seq 1 100); do
        [[ "$(redis-cli -p $((BASE + 30 + i)) PING 2>/dev/null)" == "PONG" ]] && break
        sleep 0.1
    done
done

echo "== carga durante ${DURATION}s con $WORKERS clientes; SIGKILL a un nodo cada ~${INTERVAL}s (fsync=$FSYNC)"
"$WORK/p9_fault" --balancer "127.0.0.1:$BAL" --duration "$DURATION" --workers "$WORKERS" \
    --node "127.0.0.1:$((BASE + 31))" --node "127.0.0.1:$((BASE + 32))" --node "127.0.0.1:$((BASE + 33))" \
    >"$WORK/check.out" 2>"$WORK/check.err" &
CHECKER=$!
PIDS+=("$CHECKER")

KILLS=0
END=$((SECONDS + DURATION - 1))
while ((SECONDS + INTERVAL < END)); do
    sleep "$INTERVAL"
    i=$((RANDOM % 3 + 1))
    kill -9 "${NODE_PID[$i]}"
    wait "${NODE_PID[$i]}" 2>/dev/null || true
    KILLS=$((KILLS + 1))
    sleep 0.5
    start_node "$i"
    echo "   SIGKILL $KILLS: n$i muerto y rearrancado"
done

status=0
wait "$CHECKER" || status=$?
cat "$WORK/check.out"
[[ -s "$WORK/check.err" ]] && tail -5 "$WORK/check.err"
echo "SIGKILL sobrevividos:    $KILLS"
if ((status != 0)); then
    echo "FALLO: el comprobador terminó con código $status"
    exit 1
fi
echo "OK: ninguna violación"
