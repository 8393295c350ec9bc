#!/usr/bin/env bash
# Lo que cuestan los hilos (issue 19): mide, en una sola ejecución y en la misma máquina,
#
#   - problema4 (un hilo por conexión) frente a nginx (bucle de eventos, un proceso por núcleo):
#     peticiones por segundo de un fichero de 1 KiB con `wrk` y memoria residente máxima de
#     todos los procesos del servidor, con 1, 10, 100, 1000 y 5000 conexiones simultáneas;
#   - problema3 (dos hilos por cliente) frente a redis-server (PUBLISH/SUBSCRIBE, un bucle de
#     eventos de un hilo): entregas por segundo y memoria con 2, 10, 100, 500 y 1000 clientes
#     en la sala, con el generador `bench/src/bin/chat_load.rs` (el de bench/chat.sh);
#
# y de los dos, la CPU del servidor por petición o por entrega (varía mucho menos que el
# ritmo en una máquina compartida); escribe un CSV por gráfica en bench/graficas/ y los
# dibuja en SVG con
# `bench/src/bin/graficas.rs`, que además imprime cada tabla en Markdown.
#
#   bench/graficas.sh           # medida completa (≈ 6 min), escribe en bench/graficas/
#   QUICK=1 bench/graficas.sh   # pocos puntos y cortos, en un directorio temporal: solo
#                               # demuestra que el guion funciona
#
# Variables: SECS (segundos de wrk por tanda, 5), ROUNDS (tandas de cada servidor en cada
# punto, alternando cuál va primero; se dibuja la mejor, 2), CONNS (conexiones de cada punto de HTTP),
# CLIENTS (clientes de cada punto del chat), DELIVERIES (entregas por tanda del chat, que
# fijan los mensajes por cliente: M = DELIVERIES / (N·(N-1)), al menos 1), OUT (directorio
# de los CSV y SVG), MISMA_SESION=1 (véase own_session en bench/lib.sh).
#
# Necesita wrk, nginx, redis-server y python3: `sudo apt-get install -y wrk nginx
# redis-server python3` en Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los
# instale (bench/lib.sh).
#
# Cada tanda arranca un servidor nuevo (así la memoria máxima es la de esa tanda), todos en
# 127.0.0.1 y en puertos libres; cada carga está acotada en tiempo (wrk -d, chat_load
# --timeout y `timeout`), y al salir, también con Ctrl-C o por un error, se mata por su PID el
# servidor que estuviera en marcha.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bench/lib.sh   # need_tools, free_port, wait_port, own_session, nginx_static_conf, ...
need_tools wrk nginx redis-server python3

if [[ "${QUICK:-0}" == 1 ]]; then
    SECS=${SECS:-1}
    ROUNDS=${ROUNDS:-1}
    CONNS=${CONNS:-"1 10 100"}
    CLIENTS=${CLIENTS:-"2 10 50"}
    DELIVERIES=${DELIVERIES:-20000}
    OUT=${OUT:-$(mktemp -d /tmp/graficas-quick.XXXXXX)}
else
    SECS=${SECS:-5}
    ROUNDS=${ROUNDS:-2}
    CONNS=${CONNS:-"1 10 100 1000 5000"}
    CLIENTS=${CLIENTS:-"2 10 100 500 1000"}
    DELIVERIES=${DELIVERIES:-1000000}
    OUT=${OUT:-$ROOT/bench/graficas}
fi
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/bench-graficas.XXXXXX)

# El servidor en marcha (solo uno a la vez): lo que hay que matar al salir.
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Descriptores: 5000 conexiones son 5000 en wrk y otras tantas en el servidor.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
MAX_CONNS=$(tr ' ' '\n' <<<"$CONNS" | sort -n | tail -1)
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((MAX_CONNS + 200)) ]]; then
    echo "AVISO: ulimit -n es $(ulimit -n); el punto de $MAX_CONNS conexiones puede fallar" >&2
fi

# 1. Los binarios en release, cada uno copiado a un nombre propio antes de compilar el
#    siguiente (todos los problemas tienen un binario `servidor`).
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
echo "== compilando problema4, problema3, chat_load y graficas (release)"
cargo build --release -q -p problema4 --bin servidor
cp "$TARGET/release/servidor" "$WORK/servidor-p4"
cargo build --release -q -p problema3 --bin servidor
cp "$TARGET/release/servidor" "$WORK/servidor-p3"
cargo build --release -q -p bench --bin chat_load --bin graficas
cp "$TARGET/release/chat_load" "$TARGET/release/graficas" "$WORK/"

# Procedencia de las cifras, al principio de cada CSV.
header() { # descripción
    echo "# bench/graficas.sh, $(date -u '+%Y-%m-%d %H:%M UTC'): $1"
    echo "# $(nproc) núcleos ($(uname -m)); carga media al empezar: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# máquina compartida: compárense las series entre sí, no con otras ejecuciones"
}

# 2. HTTP: un fichero de 1 KiB servido por los dos, wrk con N conexiones persistentes.
mkdir -p "$WORK/www"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/1k.bin"

start_http() { # servidor puerto
    case $1 in
        nginx)
            nginx_static_conf "$WORK/nginx" "$WORK/www" "$2" $((MAX_CONNS + 1000))
            own_session nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
                2>"$WORK/nginx.err" &
            ;;
        problema4)
            # Sin registro de accesos (como nginx) y con sitio para todas las conexiones.
            RUST_LOG=warn own_session "$WORK/servidor-p4" --port "$2" --dir "$WORK/www" \
                --max-connections $((MAX_CONNS + 100)) --backlog 4096 --timeout 60 \
                >"$WORK/p4.out" 2>"$WORK/p4.err" &
            ;;
    esac
    SERVER_PID=$!
    wait_port "$2"
}

# http_point SERVIDOR CONEXIONES: un servidor nuevo, una tanda de wrk; deja en POINT
# "peticiones/s errores MiB µs-de-CPU-por-petición" (la CPU de todos los procesos del
# servidor durante la tanda, conexiones incluidas, entre las peticiones que atendió).
http_point() {
    local port rps errs reqs before after
    port=$(free_port)
    start_http "$1" "$port"
    before=$(cpu_ticks "$SERVER_PID")
    read -r rps errs reqs < <(timeout $((SECS + 60)) wrk -t$(($2 < 2 ? 1 : 2)) -c"$2" \
        -d"${SECS}s" --timeout 5s "http://127.0.0.1:$port/1k.bin" 2>&1 | wrk_numbers)
    after=$(cpu_ticks "$SERVER_PID")
    POINT="$rps $errs $(peak_rss_mib "$SERVER_PID") $(awk -v d=$((after - before)) \
        -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN { printf "%.2f", n ? d * 1e6 / hz / n : 0 }')"
    stop_server
}

# 3. Chat: N clientes en una sala (o suscritos a un canal de redis), cada uno envía M
#    mensajes; chat_load da las entregas por segundo y el VmHWM del servidor.
start_chat() { # servidor puerto
    case $1 in
        redis)
            # Sin persistencia, como problema3.
            mkdir -p "$WORK/redis"
            own_session redis-server --port "$2" --bind 127.0.0.1 --dir "$WORK/redis" \
                --save '' --appendonly no --maxclients 4096 >"$WORK/redis.out" 2>&1 &
            ;;
        problema3)
            # Sin límite de ritmo por cliente, como en bench/chat.sh: se mide la difusión.
            RUST_LOG=warn own_session "$WORK/servidor-p3" --port "$2" --rate-limit 1e9 \
                --rate-burst 4000000000 >"$WORK/p3.out" 2>"$WORK/p3.err" &
            ;;
    esac
    SERVER_PID=$!
    wait_port "$2"
}

# chat_point SERVIDOR CLIENTES: un servidor nuevo, una ejecución de chat_load; deja en
# POINT "entregas/s perdidas MiB µs-de-CPU-por-entrega" (la del servidor durante la
# difusión, que mide chat_load). Falla si chat_load falla (el punto no se dibuja).
chat_point() {
    local port line kv target=p3 n=$2 m
    [[ $1 == redis ]] && target=redis
    m=$((DELIVERIES / (n * (n - 1))))
    port=$(free_port)
    start_chat "$1" "$port"
    if ! line=$(timeout 150 "$WORK/chat_load" --target "$target" --port "$port" --clients "$n" \
        --messages $((m < 1 ? 1 : m)) --pid "$SERVER_PID" --timeout 120 \
        2>"$WORK/chat_load.err"); then
        stop_server
        echo "  $1 con $n clientes: chat_load falló: $(tail -3 "$WORK/chat_load.err")" >&2
        return 1
    fi
    stop_server
    declare -A r=()
    for kv in $line; do r[${kv%%=*}]=${kv#*=}; done
    POINT="${r[entregas_por_s]:-0} ${r[perdidas]:-0} ${r[rss_pico_mib]:-0} ${r[us_cpu_por_entrega]:-0}"
}

# sweep FUNCIÓN CSV_RITMO CSV_MEMORIA CSV_CPU "X..." SERVIDOR...: para cada X, ROUNDS tandas
# de cada servidor (alternando cuál va primero). Añade a CSV_RITMO el mejor ritmo y la suma de
# errores de cada servidor, a CSV_MEMORIA su mayor memoria y a CSV_CPU su menor CPU por
# operación. Un punto que falla no se escribe (un 0 engañaría en la gráfica) y el guion acaba
# con error.
FAILED=0
sweep() {
    local fn=$1 rate_csv=$2 mem_csv=$3 cpu_csv=$4 xs=$5
    shift 5
    local x round server rate errs mib cpu order
    for x in $xs; do
        declare -A best=() errors=() memory=() least_cpu=()
        for round in $(seq "$ROUNDS"); do
            order=("$@")
            if ((round % 2 == 0)); then order=($(printf '%s\n' "$@" | tac)); fi
            for server in "${order[@]}"; do
                POINT=""
                "$fn" "$server" "$x" || { FAILED=1; continue; }
                read -r rate errs mib cpu <<<"$POINT"
                printf '  %-9s %5d  tanda %d  %12s /s  %7s MiB  %6s µs CPU  errores o pérdidas %s\n' \
                    "$server" "$x" "$round" "$rate" "$mib" "$cpu" "$errs"
                best[$server]=$(printf '%s\n%s\n' "${best[$server]:-}" "$rate" | best)
                errors[$server]=$((${errors[$server]:-0} + errs))
                memory[$server]=$(printf '%s\n%s\n' "${memory[$server]:-}" "$mib" | best)
                least_cpu[$server]=$(printf '%s\n' ${least_cpu[$server]:-} "$cpu" | sort -g | head -1)
            done
        done
        for server in "$@"; do
            [[ -n "${best[$server]:-}" ]] || continue
            echo "$server,$x,${best[$server]},${errors[$server]}" >>"$rate_csv"
            echo "$server,$x,${memory[$server]}" >>"$mem_csv"
            echo "$server,$x,${least_cpu[$server]}" >>"$cpu_csv"
        done
        unset best errors memory least_cpu
    done
}

# Los CSV se escriben primero en el directorio de trabajo: OUT solo cambia si el guion llega
# al final (una ejecución interrumpida no deja a medias las cifras de bench/graficas/).
CSV="$WORK/csv"
mkdir -p "$CSV"
HTTP_RPS="$CSV/http_peticiones.csv"
HTTP_MEM="$CSV/http_memoria.csv"
HTTP_CPU="$CSV/http_cpu.csv"
{
    header "wrk -d${SECS}s, 1 KiB, 1 o 2 hilos; la mejor de las tandas ($ROUNDS), servidores nuevos en cada una"
    echo "servidor,conexiones,peticiones_s,errores"
} >"$HTTP_RPS"
{
    header "VmHWM sumada de todos los procesos del servidor durante la tanda de wrk (la mayor)"
    echo "servidor,conexiones,memoria_mib"
} >"$HTTP_MEM"
{
    header "CPU (usuario + sistema) de todos los procesos del servidor durante la tanda de wrk, por petición (la menor)"
    echo "servidor,conexiones,us_cpu_por_peticion"
} >"$HTTP_CPU"
echo "== HTTP: problema4 frente a nginx, ${SECS} s de wrk por tanda, tandas por punto: $ROUNDS"
sweep http_point "$HTTP_RPS" "$HTTP_MEM" "$HTTP_CPU" "$CONNS" problema4 nginx

CHAT_RATE="$CSV/chat_entregas.csv"
CHAT_MEM="$CSV/chat_memoria.csv"
CHAT_CPU="$CSV/chat_cpu.csv"
{
    header "chat_load, unas $DELIVERIES entregas por tanda; la mejor de las tandas ($ROUNDS), servidores nuevos en cada una"
    echo "servidor,clientes,entregas_s,perdidas"
} >"$CHAT_RATE"
{
    header "VmHWM del proceso servidor durante la tanda de chat_load (la mayor)"
    echo "servidor,clientes,memoria_mib"
} >"$CHAT_MEM"
{
    header "CPU (usuario + sistema) del servidor durante la difusión, por entrega (la menor)"
    echo "servidor,clientes,us_cpu_por_entrega"
} >"$CHAT_CPU"
echo "== chat: problema3 frente a redis, unas $DELIVERIES entregas por tanda, tandas por punto: $ROUNDS"
sweep chat_point "$CHAT_RATE" "$CHAT_MEM" "$CHAT_CPU" "$CLIENTS" problema3 redis

# 4. Los SVG y las tablas.
echo "== gráficas en $OUT"
echo "# carga media al terminar: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$HTTP_RPS" "$HTTP_MEM" \
    "$HTTP_CPU" "$CHAT_RATE" "$CHAT_CPU" >>"$CHAT_MEM"
"$WORK/graficas" "$CSV"
cp "$CSV"/*.csv "$CSV"/*.svg "$OUT/"
exit "$FAILED"
