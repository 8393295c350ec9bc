# Funciones que comparten los guiones de bench/ (se cargan con `source`).

# Un puerto TCP libre en 127.0.0.1 (el sistema elige uno y lo suelta enseguida).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Espera hasta 10 s a que algo acepte conexiones en 127.0.0.1:PUERTO; si no, termina el guion.
# Se conecta para comprobarlo: no sirve para un servidor que atiende una sola conexión.
wait_port() {
    local port=$1
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nada escucha en el puerto $port" >&2
    exit 1
}

# Espera hasta SEGUNDOS (30 por omisión: en una máquina cargada arrancar tarda) a que un
# servidor del taller escriba en FICHERO su línea «escuchando en HOST:PUERTO» y deja el puerto
# en READY_PORT. Devuelve 1 si no llega (quien llama decide qué decir).
wait_ready() {
    local file=$1 secs=${2:-30} i
    for ((i = 0; i < secs * 20; i++)); do
        if grep -q "escuchando en" "$file" 2>/dev/null; then
            READY_PORT=$(grep -m1 "escuchando en" "$file" | sed -E 's/.*:([0-9]+).*/\1/')
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# El mayor de los números que llegan por la entrada, uno por línea (la mejor de varias tandas).
best() { sort -g | tail -1; }

# Ejecuta un servidor en su propia sesión (`setsid`), como cuando se arranca en otro terminal
# o como servicio. Con `kernel.sched_autogroup_enabled=1` (lo habitual en Debian) el
# planificador reparte la CPU primero entre sesiones y después entre los hilos de cada una: si
# el servidor compartiera la sesión del guion, sus hilos competirían uno a uno con los de
# `wrk`, que vive en la misma máquina, y un servidor de 1000 hilos le quitaría la CPU al
# generador de carga (un efecto de medir en la misma máquina que no existe en uso real). Se
# aplica igual a todos los servidores de una comparación (el nuestro y la referencia).
# `MISMA_SESION=1` lo desactiva, para reproducir las medidas antiguas. Se usa en segundo
# plano (`own_session cmd ... &`): `exec` conserva el PID, así que `$!` es el del servidor.
own_session() {
    if [[ "${MISMA_SESION:-0}" == 1 ]]; then
        exec "$@"
    else
        exec setsid "$@"
    fi
}

# Herramientas externas (issue 18). Cada guion llama a `need_tools orden...` al principio:
# si falta alguna, dice qué paquetes la traen y la orden de una línea que los instala en
# Debian/Ubuntu, y termina. Con `INSTALAR=1`, y siendo root, los instala él mismo y sigue.
# `want_tools` es igual pero para lo opcional: avisa (o instala) y devuelve 1 si falta.

# De dónde sale cada orden: `apt:PAQUETE` (Debian/Ubuntu), `pip:PAQUETE` (PyPI, en un entorno
# virtual propio, porque Debian no deja instalar con pip en el Python del sistema) o
# `cargo:CRATE` (`cargo install`).
tool_source() {
    case $1 in
        nc) echo apt:netcat-openbsd ;;
        redis-cli | redis-benchmark) echo apt:redis-tools ;;
        redbot) echo pip:redbot ;;
        cargo-fuzz) echo cargo:cargo-fuzz ;;
        *) echo "apt:$1" ;; # wrk, nginx, haproxy, redis-server, curl, socat, python3...
    esac
}

# Entorno virtual de Python para las herramientas de PyPI (junto al de httplint de .ci/run).
PIP_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/taller-redes/venv"
if [[ -d "$PIP_VENV/bin" ]]; then PATH="$PIP_VENV/bin:$PATH"; fi

# Reparte las órdenes dadas en los paquetes que las traen: deja las listas (sin repetidos) en
# APT_PKGS, PIP_PKGS y CARGO_PKGS. Lo de PyPI necesita además el módulo venv de Python.
sort_tools() {
    APT_PKGS=() PIP_PKGS=() CARGO_PKGS=()
    local tool src
    for tool; do
        src=$(tool_source "$tool")
        case $src in
            apt:*) APT_PKGS+=("${src#apt:}") ;;
            pip:*) PIP_PKGS+=("${src#pip:}") ;;
            cargo:*) CARGO_PKGS+=("${src#cargo:}") ;;
        esac
    done
    if ((${#PIP_PKGS[@]})) && [[ ! -x "$PIP_VENV/bin/pip" ]]; then
        APT_PKGS+=(python3 python3-venv)
    fi
    mapfile -t APT_PKGS < <(printf '%s\n' "${APT_PKGS[@]}" | awk 'NF && !seen[$0]++')
}

# Las órdenes que instalan las herramientas dadas, una por línea.
install_commands() {
    sort_tools "$@"
    if ((${#APT_PKGS[@]})); then echo "sudo apt-get install -y ${APT_PKGS[*]}"; fi
    if ((${#PIP_PKGS[@]})); then
        echo "python3 -m venv $PIP_VENV && $PIP_VENV/bin/pip install ${PIP_PKGS[*]}"
    fi
    if ((${#CARGO_PKGS[@]})); then echo "cargo install --locked ${CARGO_PKGS[*]}"; fi
}

# Instala las herramientas dadas (lo de apt solo siendo root).
install_tools() {
    sort_tools "$@"
    if ((${#APT_PKGS[@]})); then
        if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
            echo "INSTALAR=1 necesita ser root y apt-get para instalar ${APT_PKGS[*]}" >&2
            return 1
        fi
        echo "== instalando con apt-get: ${APT_PKGS[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                "${APT_PKGS[@]}" >/dev/null || return 1
    fi
    if ((${#PIP_PKGS[@]})); then
        echo "== instalando con pip en $PIP_VENV: ${PIP_PKGS[*]}" >&2
        { [[ -x "$PIP_VENV/bin/pip" ]] || python3 -m venv "$PIP_VENV"; } >&2 &&
            "$PIP_VENV/bin/pip" install --quiet "${PIP_PKGS[@]}" >&2 || return 1
        PATH="$PIP_VENV/bin:$PATH"
    fi
    if ((${#CARGO_PKGS[@]})); then
        echo "== instalando con cargo: ${CARGO_PKGS[*]}" >&2
        cargo install --locked "${CARGO_PKGS[@]}" >&2 || return 1
    fi
}

# Las órdenes de la lista que no están en el PATH, separadas por espacios.
missing_tools() {
    local tool missing=()
    for tool; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
    echo "${missing[*]}"
}

# check_tools obligatoria|opcional orden...: 0 si están todas (o se instalaron con
# INSTALAR=1); si no, explica cómo instalarlas y devuelve 1.
check_tools() {
    local kind=$1
    shift
    local missing
    missing=$(missing_tools "$@")
    [[ -z "$missing" ]] && return 0
    # shellcheck disable=SC2086 # una palabra por orden
    if [[ "${INSTALAR:-0}" == 1 ]] && install_tools $missing; then
        missing=$(missing_tools $missing)
        [[ -z "$missing" ]] && return 0
    fi
    local what="falta la herramienta"
    [[ "$missing" == *" "* ]] && what="faltan las herramientas"
    [[ "$kind" == opcional ]] && what="AVISO: $what (opcional)"
    echo "$what $missing; para instalar en Debian/Ubuntu:" >&2
    # shellcheck disable=SC2086
    install_commands $missing | sed 's/^/    /' >&2
    echo "  o ejecute el guion como root con INSTALAR=1 para que lo instale él." >&2
    return 1
}

# need_tools orden...: termina el guion si falta alguna (tras intentar instalarla con
# INSTALAR=1).
need_tools() { check_tools obligatoria "$@" || exit 1; }

# want_tools orden...: como need_tools, pero si falta algo avisa y devuelve 1 (el guion
# sigue sin esa parte).
want_tools() { check_tools opcional "$@"; }

# Lee por la entrada la salida de `wrk` e imprime "peticiones/s errores peticiones": los
# errores son los de socket (connect, read, write, timeout) más las respuestas que no son
# 2xx/3xx. Un campo que wrk no imprimió cuenta como 0.
wrk_numbers() {
    awk '
        /^Requests\/sec:/ { rps = $2 }
        / requests in / { reqs = $1 }
        /Socket errors:/ { gsub(",", ""); for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) errs += $i }
        /Non-2xx or 3xx responses:/ { errs += $NF }
        END { printf "%s %d %d\n", (rps == "" ? 0 : rps), errs, reqs }
    '
}

# nginx_static_conf DIR RAÍZ PUERTO CONEXIONES: escribe DIR/nginx.conf para servir RAÍZ en
# 127.0.0.1:PUERTO como se usaría de verdad para ficheros estáticos: un proceso por núcleo,
# `sendfile`, sin registro de accesos, conexiones persistentes sin tope de peticiones, una cola
# de `listen` de 4096 (la de problema4 es de 1024 por omisión) y CONEXIONES por proceso. Se
# arranca con `own_session nginx -p DIR -c DIR/nginx.conf &`.
nginx_static_conf() {
    local dir=$1 root=$2 port=$3 conns=$4
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
worker_processes auto;
worker_rlimit_nofile $((conns * 2 + 1000));
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $conns; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server { listen 127.0.0.1:$port backlog=4096; root $root; }
}
CONF
}

# with_children PID...: esos PID y los de sus hijos directos (el maestro de nginx y sus
# workers), uno por línea.
with_children() {
    printf '%s\n' "$@"
    pgrep -P "$(IFS=,; echo "$*")" || true
}

# peak_rss_mib PID...: memoria residente máxima (VmHWM) de esos procesos y de sus hijos
# directos, sumada, en MiB con un decimal. Las páginas compartidas (código, bibliotecas)
# cuentan una vez por proceso, como en `ps`.
peak_rss_mib() {
    local pid files=()
    for pid in $(with_children "$@"); do
        if [[ -r /proc/$pid/status ]]; then files+=("/proc/$pid/status"); fi
    done
    if ((${#files[@]} == 0)); then echo 0; return; fi
    awk '/^VmHWM:/ { kib += $2 } END { printf "%.1f\n", kib / 1024 }' "${files[@]}"
}

# cpu_ticks PID...: tics de CPU (usuario + sistema, de todos sus hilos) consumidos hasta
# ahora por esos procesos y sus hijos directos; hay `getconf CLK_TCK` tics por segundo. En una
# máquina compartida, la CPU por petición varía mucho menos que las peticiones por segundo.
cpu_ticks() {
    local pid total=0
    for pid in $(with_children "$@"); do
        if [[ -r /proc/$pid/stat ]]; then
            total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
        fi
    done
    echo "$total"
}
