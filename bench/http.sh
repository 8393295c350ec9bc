#!/usr/bin/env bash
# problema4: el servidor de ficheros frente a nginx y a `python3 -m http.server`, con los
# mismos ficheros, en la misma máquina y en una sola ejecución.
#
#   bench/http.sh            # medida completa: wrk 1 KiB a 64 y 1000 conexiones, descarga de 1 GiB
#   QUICK=1 bench/http.sh    # versión corta que solo demuestra que el guion funciona
#
# Variables: QUICK=1, WRK_SECS (duración de cada tanda de wrk), ROUNDS (tandas alternas; se
# da la mejor de cada servidor), BIG_MIB (tamaño del fichero grande), SERVIDOR (binario ya
# compilado del problema 4, para no recompilar), COSTE=1 (al final, CPU y cambios de
# contexto por petición de nginx y del nuestro, leídos de /proc durante una tanda de wrk),
# MISMA_SESION=1 (los servidores en la sesión del guion en vez de cada uno en la suya:
# véase own_session en bench/lib.sh).
#
# Necesita wrk, nginx, curl y python3: `sudo apt-get install -y wrk nginx curl python3` en
# Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale (bench/lib.sh).
#
# Todo escucha en 127.0.0.1 en puertos libres; los tres servidores se matan por PID al
# salir. Los resultados se dan como cocientes frente a nginx medido en la misma ejecución:
# la máquina es compartida y los valores absolutos varían.
set -euo pipefail

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
    WRK_SECS=${WRK_SECS:-2}
    ROUNDS=${ROUNDS:-1}
    BIG_MIB=${BIG_MIB:-32}
else
    WRK_SECS=${WRK_SECS:-10}
    ROUNDS=${ROUNDS:-2}
    BIG_MIB=${BIG_MIB:-1024}
fi
FEW=64
MANY=1000

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/bench-p4.XXXXXX)
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
need_tools wrk nginx curl python3

# 1000 conexiones de wrk más otras tantas del servidor: hacen falta descriptores.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt $((MANY * 2 + 100)) ]]; then
    echo "AVISO: ulimit -n es $(ulimit -n); la tanda de $MANY conexiones puede fallar" >&2
fi

# 1. El binario, compilado en release y copiado a un nombre propio antes de compilar nada más
#    (todos los problemas tienen un binario `servidor`).
if [[ -z "${SERVIDOR:-}" ]]; then
    (cd "$ROOT" && cargo build --release -p problema4 --bin servidor)
    TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
    cp "$TARGET_DIR/release/servidor" "$WORK/servidor-p4"
    SERVIDOR="$WORK/servidor-p4"
fi

# 2. Los ficheros y los tres servidores.
mkdir -p "$WORK/www" "$WORK/nginx"
head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$WORK/www/big.bin"
BIG_BYTES=$((BIG_MIB * 1024 * 1024))
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/"*

P_OURS=$(free_port); P_NGINX=$(free_port); P_PY=$(free_port)

# nginx como se usaría de verdad para esto: un proceso por núcleo, sendfile, sin registro.
nginx_static_conf "$WORK/nginx" "$WORK/www" "$P_NGINX" 4096
own_session nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx/stderr" &
PIDS+=($!)
NGINX_PID=$!

# El nuestro sin registro de accesos (como nginx), con sitio para las 1000 conexiones.
RUST_LOG=warn own_session "$SERVIDOR" --port "$P_OURS" --dir "$WORK/www" --max-connections 4000 \
    --timeout 60 >"$WORK/ours.out" 2>"$WORK/ours.err" &
PIDS+=($!)
OURS_PID=$!

(cd "$WORK/www" && own_session python3 -m http.server --bind 127.0.0.1 "$P_PY") \
    >"$WORK/py.out" 2>"$WORK/py.err" &
PIDS+=($!)

for port in "$P_OURS" "$P_NGINX" "$P_PY"; do wait_port "$port"; done
grep -q "escuchando en" "$WORK/ours.out" || { echo "el servidor no imprimió su línea" >&2; exit 1; }

# 3. Medidas.
wrk_run() { # puerto conexiones -> "req/s errores"
    local rps errs
    read -r rps errs _ < <(wrk -t2 -c"$2" -d"${WRK_SECS}s" --timeout 5s \
        "http://127.0.0.1:$1/1k.bin" 2>&1 | wrk_numbers)
    echo "$rps $errs"
}

bulk_run() { # puerto -> "MB/s bytes"
    local out
    out=$(curl -sS -o /dev/null --max-time 600 -w '%{speed_download} %{size_download}' \
        "http://127.0.0.1:$1/big.bin")
    awk '{printf "%.0f %d\n", $1 / 1000000, $2}' <<<"$out"
}


declare -A RPS64 RPS1K BULK ERR
for name in nginx nuestro python; do RPS64[$name]=""; RPS1K[$name]=""; BULK[$name]=""; ERR[$name]=0; done
port_of() { case $1 in nginx) echo "$P_NGINX" ;; nuestro) echo "$P_OURS" ;; python) echo "$P_PY" ;; esac; }

echo "== wrk 1 KiB a $FEW y $MANY conexiones (${WRK_SECS}s); descarga de $BIG_MIB MiB; $ROUNDS tandas =="
# Calentamiento: caché de páginas del fichero grande y conexiones.
curl -sS -o /dev/null "http://127.0.0.1:$P_NGINX/big.bin"
wrk -t1 -c4 -d1s "http://127.0.0.1:$P_NGINX/1k.bin" >/dev/null
wrk -t1 -c4 -d1s "http://127.0.0.1:$P_OURS/1k.bin" >/dev/null

for round in $(seq 1 "$ROUNDS"); do
    for name in nginx nuestro python; do
        port=$(port_of "$name")
        read -r rps errs < <(wrk_run "$port" "$FEW")
        RPS64[$name]+="$rps"$'\n'
        ERR[$name]=$(( ${ERR[$name]} + errs ))
        printf '  tanda %d %-8s -c%-5s %10s req/s  errores %s\n' "$round" "$name" "$FEW" "$rps" "$errs"
        # Python no aguanta 1000 conexiones con sentido (cola de accept de 5 y un hilo por
        # petición): solo se mide a 64.
        if [[ $name != python ]]; then
            read -r rps errs < <(wrk_run "$port" "$MANY")
            RPS1K[$name]+="$rps"$'\n'
            ERR[$name]=$(( ${ERR[$name]} + errs ))
            printf '  tanda %d %-8s -c%-5s %10s req/s  errores %s\n' "$round" "$name" "$MANY" "$rps" "$errs"
        fi
        # La descarga de Python es lenta: una sola vez.
        if [[ $name != python || $round == 1 ]]; then
            # Un respiro antes: que el servidor termine de cerrar las 1000 conexiones de la
            # tanda anterior (nuestros 1000 hilos salen a la vez) fuera de la medida.
            sleep 1
            read -r mbs bytes < <(bulk_run "$port")
            if [[ "$bytes" != "$BIG_BYTES" ]]; then
                echo "  $name: descarga incompleta ($bytes de $BIG_BYTES bytes)" >&2
                ERR[$name]=$(( ${ERR[$name]} + 1 ))
            fi
            BULK[$name]+="$mbs"$'\n'
            printf '  tanda %d %-8s descarga %8s MB/s\n' "$round" "$name" "$mbs"
        fi
    done
done

N64=$(best <<<"${RPS64[nginx]}"); O64=$(best <<<"${RPS64[nuestro]}"); Y64=$(best <<<"${RPS64[python]}")
N1K=$(best <<<"${RPS1K[nginx]}"); O1K=$(best <<<"${RPS1K[nuestro]}")
NB=$(best <<<"${BULK[nginx]}"); OB=$(best <<<"${BULK[nuestro]}"); YB=$(best <<<"${BULK[python]}")
ratio() { python3 -c "print(f'{100*float($1)/float($2):.0f}%' if float($2) > 0 else 'n/a')"; }
times() { python3 -c "print(f'{float($1)/float($2):.1f}x' if float($2) > 0 else 'n/a')"; }

echo
echo "| medida | nginx | nuestro | python | nuestro/nginx | objetivo | nuestro/python |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
echo "| wrk 1 KiB, $FEW conexiones (req/s) | $N64 | $O64 | $Y64 | $(ratio "$O64" "$N64") | >= 100% | $(times "$O64" "$Y64") |"
echo "| wrk 1 KiB, $MANY conexiones (req/s) | $N1K | $O1K | - | $(ratio "$O1K" "$N1K") | >= 70% | - |"
echo "| descarga de $BIG_MIB MiB (MB/s) | $NB | $OB | $YB | $(ratio "$OB" "$NB") | >= 90% | $(times "$OB" "$YB") |"
echo "| errores de wrk y descargas incompletas | ${ERR[nginx]} | ${ERR[nuestro]} | ${ERR[python]} | | 0 (nuestro) | |"

# 4. Opcional: cuánto cuesta cada petición a cada servidor. Se leen de /proc el tiempo de CPU
#    (usuario + sistema, de todo el proceso) y los cambios de contexto (suma de sus hilos)
#    al principio y al final de una ventana de una tanda de wrk, y se dividen por las
#    peticiones de esa ventana.
proc_snapshot() { # pids... -> "ticks cambios"
    python3 - "$@" <<'PY'
import os, sys
ticks = switches = 0
for pid in sys.argv[1:]:
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                for line in open(f"/proc/{pid}/task/{tid}/status"):
                    if "ctxt_switches" in line:
                        switches += int(line.split()[1])
            except OSError:
                pass
    except OSError:
        pass
print(ticks, switches)
PY
}

cost_run() { # nombre puerto conexiones pids...
    local name=$1 port=$2 conns=$3; shift 3
    local window=$(( WRK_SECS > 4 ? WRK_SECS - 2 : 2 ))
    # Margen tras la ventana: con 1000 hilos ocupados, leer sus 1000 ficheros de /proc tarda
    # segundos, y si wrk terminase antes los hilos habrían salido y sus cuentas faltarían.
    wrk -t2 -c"$conns" -d"$((window + 6))s" --timeout 5s "http://127.0.0.1:$port/1k.bin" >"$WORK/cost.txt" 2>&1 &
    local wrk_pid=$!
    sleep 1
    local before after
    before=$(proc_snapshot "$@")
    sleep "$window"
    after=$(proc_snapshot "$@")
    wait "$wrk_pid" || true
    local rps
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/cost.txt")
    python3 - "$name" "$conns" "${rps:-0}" "$window" $before $after <<'PY'
import os, sys
name, conns, rps, window = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
t0, s0, t1, s1 = map(int, sys.argv[5:9])
reqs = rps * window
cpu = (t1 - t0) / os.sysconf("SC_CLK_TCK")
if reqs > 0:
    print(f"| {name} | {conns} | {rps:.0f} | {cpu / window:.2f} | {cpu * 1e6 / reqs:.1f} | {(s1 - s0) / reqs:.2f} |")
PY
}

if [[ "${COSTE:-0}" == 1 ]]; then
    echo
    echo "| servidor | conexiones | req/s | CPU usadas | µs de CPU por petición | cambios de contexto por petición |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    mapfile -t nginx_pids < <(pgrep -P "$NGINX_PID")
    for conns in "$FEW" "$MANY"; do
        cost_run nginx "$P_NGINX" "$conns" "${nginx_pids[@]}"
        cost_run nuestro "$P_OURS" "$conns" "$OURS_PID"
    done
fi

if [[ "${ERR[nuestro]}" != 0 ]]; then
    exit 1
fi
