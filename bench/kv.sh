#!/usr/bin/env bash
# problema9 (parte 2): almacén replicado (3 nodos, escrituras por mayoría, detrás del
# balanceador) frente a un redis-server solo, con redis-benchmark -t set,get -c 50, en la
# misma ejecución.
#
# Uso: bench/kv.sh            (N=100000 peticiones por prueba)
#      QUICK=1 bench/kv.sh    (N=2000: solo prueba que el script funciona)
#      FSYNC=never bench/kv.sh  (política de fsync de los nodos; por omisión always)
#      MISMA_SESION=1 bench/kv.sh  (los servidores en la sesión del guion en vez de cada uno
#                                   en la suya: véase own_session en bench/lib.sh)
#      CPU=1 bench/kv.sh       (además, la CPU de nuestros 4 procesos por operación, en µs:
#                                   SET y GET por separado; menos sensible a una máquina
#                                   cargada que las peticiones por segundo)
#      SERVIDOR=/ruta/servidor bench/kv.sh  (usa ese binario ya compilado en vez del del árbol:
#                                   para comparar dos versiones en la misma sesión)
#
# Con FSYNC=always, redis-server se lanza con appendonly yes + appendfsync always (misma
# política: cada escritura en disco antes de responder); con batch, appendfsync everysec; con
# never, sin persistencia. Imprime las peticiones por segundo de cada uno y el cociente.
#
# Necesita redis-server, redis-benchmark y redis-cli: `sudo apt-get install -y redis-server
# redis-tools` en Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale.
set -euo pipefail

QUICK="${QUICK:-0}"
FSYNC="${FSYNC:-always}"
CLIENTS="${CLIENTS:-50}"
if [[ "$QUICK" == "1" ]]; then N="${N:-2000}"; else N="${N:-100000}"; fi
BASE="${BASE_PORT:-18200}"
BAL=$((BASE + 9)); CTRL=$((BASE + 19)); REDIS=$((BASE + 50))

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/bench-p9kv.XXXXXX)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/lib.sh"   # need_tools, own_session
need_tools redis-server redis-benchmark redis-cli

echo "== compilando problema9 (release)"
(cd "$ROOT" && cargo build --release -q -p problema9)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cp "${SERVIDOR:-$TARGET/release/servidor}" "$WORK/servidor"
cp "$TARGET/release/cliente" "$WORK/cliente"

wait_pong() {
    local port=$1
    for _ in $(seq 1 200); do
        if [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == "PONG" ]]; then return 0; fi
        sleep 0.1
    done
    echo "el puerto $port no responde a PING" >&2
    exit 1
}

echo "== arrancando balanceador (:$BAL, control :$CTRL) y 3 nodos (fsync=$FSYNC)"
own_session "$WORK/servidor" balanceador --port "$BAL" --control-port "$CTRL" --check ping \
    --check-interval 500ms >"$WORK/bal.out" 2>"$WORK/bal.err" &
PIDS+=($!)
OUR_PIDS=($!)
for i in 1 2 3; do
    peers=()
    for j in 1 2 3; do
        [[ $i == "$j" ]] || peers+=(--peer "127.0.0.1:$((BASE + 40 + j))")
    done
    RUST_LOG=warn own_session "$WORK/servidor" nodo --id "n$i" --data-dir "$WORK/n$i" \
        --port $((BASE + 30 + i)) --peer-port $((BASE + 40 + i)) "${peers[@]}" \
        --balancer "127.0.0.1:$CTRL" --cluster-size 3 --fsync "$FSYNC" \
        >"$WORK/n$i.out" 2>"$WORK/n$i.err" &
    PIDS+=($!)
    OUR_PIDS+=($!)
done
for i in 1 2 3; do wait_pong $((BASE + 30 + i)); done
# Los tres registrados y sanos en el balanceador.
for _ in $(seq 1 100); do
    up=$("$WORK/cliente" --port "$BAL" --control-port "$CTRL" status 2>/dev/null | grep -c ' up ' || true)
    [[ "$up" -ge 3 ]] && break
    sleep 0.2
done
echo "   nodos sanos en el balanceador: $up"

case "$FSYNC" in
    always) REDIS_ARGS=(--appendonly yes --appendfsync always); REDIS_DESC="appendonly yes, appendfsync always" ;;
    batch) REDIS_ARGS=(--appendonly yes --appendfsync everysec); REDIS_DESC="appendonly yes, appendfsync everysec" ;;
    *) REDIS_ARGS=(--appendonly no); REDIS_DESC="sin persistencia" ;;
esac
mkdir -p "$WORK/redis"
own_session redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --dir "$WORK/redis" "${REDIS_ARGS[@]}" \
    >"$WORK/redis.out" 2>&1 &
PIDS+=($!)
wait_pong "$REDIS"

# rps de una prueba en la salida --csv de redis-benchmark ("SET","12345.67",...).
rps() { grep "^\"$1\"" | head -1 | cut -d'"' -f4; }

bench() {
    local port=$1
    timeout 600 redis-benchmark -p "$port" -t set,get -n "$N" -c "$CLIENTS" -r 100000 --csv 2>/dev/null
}

echo "== redis-benchmark -t set,get -n $N -c $CLIENTS -r 100000"
OURS="$(bench "$BAL")"
THEIRS="$(bench "$REDIS")"
ours_set=$(rps SET <<<"$OURS"); ours_get=$(rps GET <<<"$OURS")
redis_set=$(rps SET <<<"$THEIRS"); redis_get=$(rps GET <<<"$THEIRS")

# CPU (usuario + sistema, en tics) de nuestros procesos: balanceador y nodos (cpu_ticks de
# lib.sh).
if [[ "${CPU:-0}" == "1" ]]; then
    HZ=$(getconf CLK_TCK)
    for t in set get; do
        before=$(cpu_ticks "${OUR_PIDS[@]}")
        timeout 600 redis-benchmark -p "$BAL" -t "$t" -n "$N" -c "$CLIENTS" -r 100000 -q >/dev/null 2>&1
        after=$(cpu_ticks "${OUR_PIDS[@]}")
        awk -v t="$t" -v d=$((after - before)) -v hz="$HZ" -v n="$N" \
            'BEGIN { printf "CPU de problema9 por %s: %.1f µs (balanceador + 3 nodos)\n", toupper(t), d * 1e6 / hz / n }'
    done
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "n/d" }'; }
printf '\n%-44s %12s %12s\n' "" "SET rps" "GET rps"
printf '%-44s %12s %12s\n' "problema9 (balanceador + 3 nodos, fsync=$FSYNC)" "$ours_set" "$ours_get"
printf '%-44s %12s %12s\n' "redis-server ($REDIS_DESC)" "$redis_set" "$redis_get"
printf '%-44s %12s %12s\n' "cociente problema9 / redis" "$(ratio "$ours_set" "$redis_set")" "$(ratio "$ours_get" "$redis_get")"

# Todas las réplicas acaban con el mismo contenido.
sleep 1
for i in 1 2 3; do
    printf 'n%s: %s claves, resumen %s\n' "$i" \
        "$(redis-cli -p $((BASE + 30 + i)) DBSIZE)" \
        "$(redis-cli -p $((BASE + 30 + i)) INFO replication | tr -d '\r' | grep '^digest:' | cut -d: -f2)"
done
