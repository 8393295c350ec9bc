#!/usr/bin/env bash
# problema9 (parte 2): inyección de fallos con comprobación de linealizabilidad. Tres procesos
# nodo (--cluster-size 3) y el balanceador; clientes RESP concurrentes (bench/src/bin/
# p9_fault.rs, con el grabador y el comprobador de tests/src/linearizability.rs) hacen SET,
# GET y DEL a través del balanceador mientras este script provoca fallos. Al final se
# comprueba que el historial de cada clave es linealizable y que las réplicas convergen.
# Imprime "N ops, N acknowledged writes, N kills, N violations".
#
# Uso: bench/fault.sh                  (MODE=kill, 60 s)
#      MODE=none BURN=2 WORKERS=8 KEYS=1 bench/fault.sh
#                                      ejecución 1: sin fallos, dos bucles quemando CPU
#      MODE=kill  bench/fault.sh       ejecución 2: SIGKILL y rearranque de un nodo cada ~INTERVAL s
#      MODE=stop  bench/fault.sh       ejecución 3: SIGSTOP de un nodo durante PAUSE s (más que el
#                                      plazo de mayoría, 1 s) y SIGCONT
#      MODE=majority bench/fault.sh    ejecución 4: dos de tres nodos muertos durante toda la
#                                      carga; ninguna escritura puede confirmarse
#      QUICK=1 ...                     (10 s, prueba que el script funciona)
#      FSYNC=never ...                 (política de fsync de los nodos; por omisión always)
#      KEEP=1 ...                      (no borra el directorio de trabajo con los logs)
# Sale con código distinto de 0 si hay alguna violación.
#
# Necesita redis-cli: `sudo apt-get install -y redis-tools` en Debian/Ubuntu, o `INSTALAR=1`
# como root para que el guion lo instale (bench/lib.sh).
set -euo pipefail

QUICK="${QUICK:-0}"
MODE="${MODE:-kill}"
FSYNC="${FSYNC:-always}"
if [[ "$QUICK" == "1" ]]; then DURATION="${DURATION:-10}"; else DURATION="${DURATION:-60}"; fi
INTERVAL="${INTERVAL:-3}"
PAUSE="${PAUSE:-3}"
WORKERS="${WORKERS:-6}"
KEYS="${KEYS:-5}"
BURN="${BURN:-0}"
BASE="${BASE_PORT:-18300}"
BAL=$((BASE + 9)); CTRL=$((BASE + 19))

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/bench/lib.sh"   # need_tools
need_tools redis-cli
WORK="$(mktemp -d /tmp/bench-p9fault.XXXXXX)"
declare -A NODE_PID
PIDS=()
BURNERS=()
cleanup() {
    for pid in "${NODE_PID[@]}"; do kill -CONT "$pid" 2>/dev/null || true; done
    for pid in "${BURNERS[@]}" "${PIDS[@]}" "${NODE_PID[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${BURNERS[@]}" "${PIDS[@]}" "${NODE_PID[@]}"; do wait "$pid" 2>/dev/null || true; done
    [[ "${KEEP:-0}" == 1 ]] || rm -rf "$WORK"
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

wait_node() {
    for _ in $(seq 1 300); do
        [[ "$(redis-cli -p $((BASE + 30 + $1)) PING 2>/dev/null)" == "PONG" ]] && return 0
        sleep 0.1
    done
    echo "el nodo n$1 no responde a PING" >&2
    return 1
}

"$WORK/servidor" balanceador --port "$BAL" --control-port "$CTRL" --check ping \
    --check-interval 300ms --check-timeout 500ms --fall 1 --rise 1 \
    >"$WORK/bal.out" 2>"$WORK/bal.err" &
PIDS+=($!)
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do wait_node "$i"; done
sleep 1   # el balanceador ve a los tres arriba

KILLS=0
echo 0 >"$WORK/kills"
if [[ "$MODE" == "majority" ]]; then
    for i in 2 3; do
        kill -9 "${NODE_PID[$i]}"; wait "${NODE_PID[$i]}" 2>/dev/null || true
        KILLS=$((KILLS + 1))
    done
    echo "$KILLS" >"$WORK/kills"
    echo "   SIGKILL a n2 y n3: solo queda n1 (sin mayoría)"
fi
for _ in $(seq 1 "$BURN"); do
    timeout $((DURATION + 120)) sh -c 'while :; do :; done' &
    BURNERS+=($!)
done

echo "== modo $MODE: ${DURATION}s con $WORKERS clientes, $KEYS claves, $BURN quemadores de CPU (fsync=$FSYNC)"
EXTRA=()
[[ "$MODE" == "majority" ]] && EXTRA+=(--expect-no-acks)
"$WORK/p9_fault" --balancer "127.0.0.1:$BAL" --duration "$DURATION" --workers "$WORKERS" \
    --keys "$KEYS" --kills-file "$WORK/kills" "${EXTRA[@]}" \
    --node "127.0.0.1:$((BASE + 31))" --node "127.0.0.1:$((BASE + 32))" --node "127.0.0.1:$((BASE + 33))" \
    >"$WORK/check.out" 2>"$WORK/check.err" &
CHECKER=$!
PIDS+=("$CHECKER")

END=$((SECONDS + DURATION - 1))
case "$MODE" in
    kill)
        while ((SECONDS + INTERVAL < END)); do
            sleep "$INTERVAL"
            i=$((RANDOM % 3 + 1))
            kill -9 "${NODE_PID[$i]}"
            wait "${NODE_PID[$i]}" 2>/dev/null || true
            KILLS=$((KILLS + 1)); echo "$KILLS" >"$WORK/kills"
            sleep 0.5
            start_node "$i"
            wait_node "$i"
            echo "   SIGKILL $KILLS: n$i muerto y rearrancado"
        done
        ;;
    stop)
        STOPS=0
        while ((SECONDS + INTERVAL + PAUSE < END)); do
            sleep "$INTERVAL"
            i=$((RANDOM % 3 + 1))
            kill -STOP "${NODE_PID[$i]}"
            sleep "$PAUSE"
            kill -CONT "${NODE_PID[$i]}"
            STOPS=$((STOPS + 1))
            echo "   SIGSTOP $STOPS: n$i parado ${PAUSE}s y reanudado"
        done
        echo "SIGSTOP/SIGCONT: $STOPS"
        ;;
    majority)
        sleep "$DURATION"
        for i in 2 3; do start_node "$i"; done
        echo "   n2 y n3 rearrancados para la comprobación final"
        ;;
    *) sleep "$DURATION" ;;
esac
for pid in "${BURNERS[@]}"; do kill "$pid" 2>/dev/null || true; done

status=0
wait "$CHECKER" || status=$?
cat "$WORK/check.out"
[[ -s "$WORK/check.err" ]] && tail -5 "$WORK/check.err"
if ((status != 0)); then
    echo "FALLO: el comprobador terminó con código $status"
    exit 1
fi
echo "OK: ninguna violación"
