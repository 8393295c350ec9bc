#!/usr/bin/env bash
# problema5: subida y descarga de un fichero grande con nuestro cliente y servidor, frente a
# una copia cruda del mismo fichero por loopback con socat (sin protocolo ni SHA-256: el
# límite práctico), en la misma ejecución. Mide también el pico de memoria del servidor
# (VmHWM de /proc/PID/status).
#
# Uso:   bench/transfer.sh            (1 GiB, 3 repeticiones, se queda la mejor)
#        QUICK=1 bench/transfer.sh    (64 MiB, 1 repetición: prueba que el script funciona)
# Variables: SIZE_MIB (tamaño), REPS (repeticiones), WORK (directorio temporal).
#
# Necesita socat y python3: `sudo apt-get install -y socat python3` en Debian/Ubuntu, o
# `INSTALAR=1` como root para que el guion los instale (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
    SIZE_MIB=${SIZE_MIB:-64}
    REPS=${REPS:-1}
else
    SIZE_MIB=${SIZE_MIB:-1024}
    REPS=${REPS:-3}
fi
WORK=${WORK:-/tmp/bench-p5}
STEP_TIMEOUT=300 # ninguna transferencia puede colgar el script más de 5 minutos

source bench/lib.sh   # need_tools, free_port, wait_ready
need_tools socat python3

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

rm -rf "$WORK"
mkdir -p "$WORK/store"

echo "== compilando problema5 en release"
cargo build --release -q -p problema5
TARGET=${CARGO_TARGET_DIR:-target}
# Copias con nombre propio: los nueve problemas comparten el nombre `servidor`.
cp "$TARGET/release/servidor" "$WORK/servidor"
cp "$TARGET/release/cliente" "$WORK/cliente"

echo "== generando $SIZE_MIB MiB aleatorios en $WORK"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/data.bin"
BYTES=$(stat -c %s "$WORK/data.bin")

# Espera a que alguien escuche en el puerto sin conectarse (socat sin `fork` atendería a la
# sonda como si fuera la transferencia).
wait_listening() {
    for _ in $(seq 1 200); do
        if [ -n "$(ss -Hltn "sport = :$1")" ]; then
            return 0
        fi
        sleep 0.02
    done
    echo "nadie escucha en el puerto $1" >&2
    return 1
}

now() { date +%s.%N; }

# Segundos de CPU (usuario + sistema): de cada proceso medido con /usr/bin/time y del servidor
# por /proc/PID/stat. Se apuntan en $WORK/cpu.log ("medida segundos_cliente segundos_servidor")
# para explicar el tiempo: con dos núcleos, nada baja de (CPU total) / 2.
TICK=$(getconf CLK_TCK)
if [ -x /usr/bin/time ]; then TIMED=(/usr/bin/time -f "%U %S" -o); else TIMED=(); fi
timed() { # timed FICHERO_CPU orden...
    if [ ${#TIMED[@]} -gt 0 ]; then "${TIMED[@]}" "$@"; else shift; "$@"; fi
}
cpu_file() { [ -s "$1" ] && awk 'END { printf "%.2f", $1 + $2 }' "$1" || printf 0; }
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
mib_s() { awk -v t="$1" -v n="$BYTES" 'BEGIN { printf "%.0f", n / 1048576 / t }'; }

# Una copia cruda con socat. En `upload` el receptor escucha y el emisor conecta; en
# `download`, al revés (como nuestro servidor, que escucha y envía). El tiempo va desde que
# arranca el lado que conecta hasta que el receptor ha escrito el último byte y ha salido.
raw_copy() {
    local port out start end bg
    port=$(free_port)
    out="$WORK/raw.bin"
    rm -f "$out"
    sync
    rm -f "$WORK/cpu-a" "$WORK/cpu-b"
    if [ "$1" = upload ]; then
        timed "$WORK/cpu-a" timeout "$STEP_TIMEOUT" socat -b 262144 -u "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" "CREATE:$out" &
    else
        timed "$WORK/cpu-a" timeout "$STEP_TIMEOUT" socat -b 262144 -u "OPEN:$WORK/data.bin" "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr" &
    fi
    bg=$!
    wait_listening "$port"
    start=$(now)
    if [ "$1" = upload ]; then
        timed "$WORK/cpu-b" timeout "$STEP_TIMEOUT" socat -b 262144 -u "OPEN:$WORK/data.bin" "TCP:127.0.0.1:$port"
    else
        timed "$WORK/cpu-b" timeout "$STEP_TIMEOUT" socat -b 262144 -u "TCP:127.0.0.1:$port" "CREATE:$out"
    fi
    wait "$bg"
    # Con `sync`, además, fsync del fichero recibido: la misma durabilidad que da nuestro
    # servidor (y nuestro cliente al descargar) antes de dar por buena la transferencia.
    if [ "${2:-}" = sync ]; then
        sync "$out"
    fi
    end=$(now)
    [ "$(stat -c %s "$out")" = "$BYTES" ] || { echo "la copia cruda llegó incompleta" >&2; exit 1; }
    # Borrar 1 GiB en ext4 montado con `discard` se paga en el siguiente commit del diario:
    # `sync` lo hace aquí, fuera de cualquier medida, y no durante la siguiente.
    rm -f "$out"
    sync
    if [ -z "${2:-}" ]; then
        # Para socat, "cliente" es el lado que conecta y "servidor" el que escucha.
        echo "socat-$1 $(cpu_file "$WORK/cpu-b") $(cpu_file "$WORK/cpu-a")" >>"$WORK/cpu.log"
    fi
    elapsed "$start" "$end"
}

# Nuestro servidor, en un puerto libre, guardando en $WORK/store.
start_server() {
    "$WORK/servidor" --port 0 --dir "$WORK/store" --max-size 64G >"$WORK/servidor.out" 2>"$WORK/servidor.log" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_ready "$WORK/servidor.out" || { echo "el servidor no arrancó: $(cat "$WORK/servidor.log")" >&2; exit 1; }
    SERVER_PORT=$READY_PORT
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
}

# `ours upload` usa la subida por omisión (una sola pasada, SHA-256 detrás del cuerpo);
# `ours upload --digest-first`, la que calcula el SHA-256 antes y lo anuncia en la orden.
ours() {
    local start end
    local extra=("${@:2}")
    if [ "$1" = upload ]; then
        # Como con socat (que escribe cada vez en un fichero nuevo), la versión anterior se
        # borra fuera del tiempo medido: liberar 1 GiB en ext4 con `discard` no es gratis.
        "$WORK/cliente" --port "$SERVER_PORT" delete data.bin >/dev/null 2>&1 || true
        sync
    fi
    rm -f "$WORK/down.bin" "$WORK/cpu-c"
    sync # lo mismo: que el borrado de la descarga anterior no caiga dentro de esta medida
    local s0 s1
    s0=$(server_ticks)
    start=$(now)
    if [ "$1" = upload ]; then
        timed "$WORK/cpu-c" timeout "$STEP_TIMEOUT" "$WORK/cliente" --port "$SERVER_PORT" upload "$WORK/data.bin" --as data.bin "${extra[@]}" >/dev/null
    else
        timed "$WORK/cpu-c" timeout "$STEP_TIMEOUT" "$WORK/cliente" --port "$SERVER_PORT" download data.bin -o "$WORK/down.bin" >/dev/null
    fi
    end=$(now)
    s1=$(server_ticks)
    echo "${LABEL:-p5-$1${2:-}} $(cpu_file "$WORK/cpu-c") $(awk -v t=$((s1 - s0)) -v h="$TICK" 'BEGIN { printf "%.2f", t / h }')" >>"$WORK/cpu.log"
    elapsed "$start" "$end"
}

best() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "== $REPS repeticiones de cada medida (se queda la mejor); carga al empezar: $(uptime)"
raw_up=(); raw_down=(); sync_up=(); sync_down=(); our_up=(); our_up_df=(); our_down=(); restart_down=(); cold_down=()
start_server
for rep in $(seq 1 "$REPS"); do
    sync # que la escritura pendiente de la repetición anterior no caiga sobre la siguiente
    raw_up+=("$(raw_copy upload)")
    sync_up+=("$(raw_copy upload sync)")
    our_up+=("$(ours upload)")
    our_up_df+=("$(ours upload --digest-first)")
    raw_down+=("$(raw_copy download)")
    sync_down+=("$(raw_copy download sync)")
    our_down+=("$(ours download)")
    cmp -s "$WORK/data.bin" "$WORK/down.bin" || { echo "¡la descarga no es idéntica!" >&2; exit 1; }
    rm -f "$WORK/down.bin"
    echo "   repetición $rep: subida socat ${raw_up[-1]} s, socat+fsync ${sync_up[-1]} s, problema5 ${our_up[-1]} s (--digest-first ${our_up_df[-1]} s);" \
        "descarga socat ${raw_down[-1]} s, socat+fsync ${sync_down[-1]} s, problema5 ${our_down[-1]} s"
done
PEAK_KIB=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
stop_server
# Descarga tras reiniciar: el servidor nuevo no tiene el SHA-256 en memoria, pero lo lee del
# `.sha256-data.bin` que guardó al publicar la subida (no relee el fichero). Y descarga "en
# frío" de verdad: sin resumen guardado (como un fichero copiado a mano en el directorio), el
# servidor lee el fichero entero antes de enviar la primera línea (y vuelve a guardar el
# resumen, así que se borra antes de cada repetición).
COLD_PEAK_KIB=0
for rep in $(seq 1 "$REPS"); do
    start_server
    restart_down+=("$(LABEL=p5-download-reiniciado ours download)")
    cmp -s "$WORK/data.bin" "$WORK/down.bin" || { echo "¡la descarga no es idéntica!" >&2; exit 1; }
    stop_server
    rm -f "$WORK/store/.sha256-data.bin"
    start_server
    cold_down+=("$(LABEL=p5-download-sin-sha ours download)")
    cmp -s "$WORK/data.bin" "$WORK/down.bin" || { echo "¡la descarga no es idéntica!" >&2; exit 1; }
    COLD_PEAK_KIB=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVER_PID/status")
    stop_server
    rm -f "$WORK/down.bin"
    echo "   repetición $rep tras reiniciar: con SHA guardado ${restart_down[-1]} s, sin él ${cold_down[-1]} s"
done

ratio() { awk -v r="$1" -v o="$2" 'BEGIN { printf "%.0f%%", 100 * r / o }'; }
row() { printf '%-32s %7s %7s %9s %14s %9s %17s\n' "$@"; }
# Una fila: nombre, tiempos de la medida, tiempos de la referencia cruda y de la cruda+fsync.
line() {
    local name=$1 b m rb rm sb sm
    local -n t=$2 r=$3 sy=$4
    b=$(best "${t[@]}"); m=$(median "${t[@]}")
    rb=$(best "${r[@]}"); rm=$(median "${r[@]}")
    sb=$(best "${sy[@]}"); sm=$(median "${sy[@]}")
    row "$name" "$b" "$(mib_s "$b")" "$(ratio "$rb" "$b")" "$(ratio "$sb" "$b")" "$m" "$(ratio "$rm" "$m")"
}
echo
echo "fichero: $SIZE_MIB MiB ($BYTES bytes) en $WORK, $REPS repeticiones"
row "medida" "mejor s" "MiB/s" "vs socat" "vs socat+fsync" "mediana" "vs socat (med.)"
line "subida: socat" raw_up raw_up sync_up
line "subida: socat + fsync" sync_up raw_up sync_up
line "subida: problema5 (1 pasada)" our_up raw_up sync_up
line "subida: p5 --digest-first" our_up_df raw_up sync_up
line "descarga: socat" raw_down raw_down sync_down
line "descarga: socat + fsync" sync_down raw_down sync_down
line "descarga: problema5" our_down raw_down sync_down
line "descarga: p5 tras reiniciar" restart_down raw_down sync_down
line "descarga: p5 sin SHA guardado" cold_down raw_down sync_down
echo
echo "CPU (usuario + sistema, segundos; mediana de las repeticiones), cliente + servidor:"
awk '{ n[$1]++; c[$1, n[$1]] = $2; s[$1, n[$1]] = $3; t[$1, n[$1]] = $2 + $3 }
     END {
         for (k in n) {
             # mediana de la suma, con sus dos partes
             m = n[k]; for (i = 1; i <= m; i++) idx[i] = i
             for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++)
                 if (t[k, idx[j]] < t[k, idx[i]]) { x = idx[i]; idx[i] = idx[j]; idx[j] = x }
             med = idx[int((m + 1) / 2)]
             printf "  %-26s %5.2f + %5.2f = %5.2f  (%d medidas)\n", k, c[k, med], s[k, med], t[k, med], m
         }
     }' "$WORK/cpu.log" | sort
echo "carga al terminar: $(uptime)"
echo "pico de memoria del servidor (VmHWM): $((PEAK_KIB / 1024)) MiB ($PEAK_KIB KiB); sin SHA guardado: $((COLD_PEAK_KIB / 1024)) MiB"
