#!/usr/bin/env bash
# Interoperabilidad con clientes que nadie de aquí escribió: nc y telnet para 1, 2, 3, 5, 6,
# 8 y 9; curl, wget y http.client de Python para 4 y 7 (más curl por CONNECT hasta un
# `openssl s_server`); redis-cli para 9; Chromium sin ventana para 4 (un listado y una página
# con CSS e imagen, con captura) y 7 (con --proxy-server).
#
#   bash bench/interop.sh            # todo; las capturas quedan en bench/out/
#
# Cada comprobación imprime `pass` o `FAIL` y el script acaba con `N passed, N failed`
# (código 1 si alguna falló). Sin Chromium instalado, sus comprobaciones fallan salvo con
# SKIP_BROWSER=1.
#
# Necesita nc, telnet, curl, wget, openssl, python3, redis-cli y chromium: `sudo apt-get
# install -y netcat-openbsd telnet curl wget openssl python3 redis-tools chromium` en
# Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale (bench/lib.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
source bench/lib.sh   # need_tools, want_tools, free_port, wait_ready
need_tools nc telnet curl wget openssl python3 redis-cli
if [ "${SKIP_BROWSER:-}" != 1 ]; then want_tools chromium || true; fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=$ROOT/bench/out
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/interop.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "== compilando los nueve problemas"
for n in 1 2 3 4 5 6 7 8 9; do
    cargo build -q -p "problema$n" --bins || exit 1
    cp "$TARGET/debug/servidor" "$WORK/p$n-servidor"
    cp "$TARGET/debug/cliente" "$WORK/p$n-cliente"
done

passed=0; failed=0
ok()   { echo "pass  $1"; passed=$((passed + 1)); }
bad()  { echo "FAIL  $1"; [ -n "${2:-}" ] && echo "      $2" | head -c 600 && echo; failed=$((failed + 1)); }
# expect NOMBRE SALIDA TEXTO: la salida contiene TEXTO
expect() { if printf '%s' "$2" | grep -qF -- "$3"; then ok "$1"; else bad "$1" "esperaba '$3', llegó: $(printf '%s' "$2" | head -c 300)"; fi; }

# start NOMBRE ORDEN...: arranca un servidor con --port 0 y deja su puerto en $PORT.
start() {
    local name=$1; shift
    RUST_LOG=warn "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    PIDS+=($!)
    if wait_ready "$WORK/$name.out"; then
        PORT=$READY_PORT
        return 0
    fi
    echo "el servidor $name no arrancó: $(cat "$WORK/$name.err")" >&2
    PORT=0
    return 1
}
# telnet con un guion: las líneas de $2 (separadas por \n) y una pausa para leer la respuesta.
# (telnet ya convierte cada \n en \r\n, como al pulsar Intro.)
tel() { (printf "$2"; sleep "${3:-1}") | timeout 10 telnet 127.0.0.1 "$1" 2>/dev/null; }

echo "== problema1"
start p1 "$WORK/p1-servidor" --port 0
expect "p1 nc" "$(printf 'hola nc\n' | timeout 5 nc 127.0.0.1 "$PORT")" "recibido (7 bytes): hola nc"
expect "p1 telnet" "$(tel "$PORT" 'hola telnet\n')" "recibido (11 bytes): hola telnet"

echo "== problema2"
start p2 "$WORK/p2-servidor" --port 0
expect "p2 nc tcp" "$(printf 'eco tcp\n' | timeout 5 nc -N 127.0.0.1 "$PORT")" "eco tcp"
expect "p2 nc udp" "$(printf 'eco udp\n' | timeout 5 nc -u -w1 127.0.0.1 "$PORT")" "eco udp"
expect "p2 telnet" "$(tel "$PORT" 'eco telnet\n')" "eco telnet"
head -c 3000000 /dev/urandom > "$WORK/rand.bin"
timeout 20 nc -N 127.0.0.1 "$PORT" < "$WORK/rand.bin" > "$WORK/rand.out"
if cmp -s "$WORK/rand.bin" "$WORK/rand.out"; then ok "p2 nc binario 3 MB"; else bad "p2 nc binario 3 MB"; fi

chat_checks() { # NOMBRE PUERTO
    local n=$1 port=$2
    (printf 'beto\n'; sleep 3) | timeout 10 nc 127.0.0.1 "$port" > "$WORK/$n-beto.out" &
    local bg=$!
    sleep 0.7
    (printf 'ana\nhola a todos\n'; sleep 1) | timeout 10 nc 127.0.0.1 "$port" > "$WORK/$n-ana.out"
    wait "$bg"
    expect "$n nc nombre" "$(cat "$WORK/$n-ana.out")" "ya estás conectado!"
    expect "$n nc difusión" "$(cat "$WORK/$n-beto.out")" "ana: hola a todos"
    expect "$n telnet" "$(tel "$port" 'carla\n/quit\n')" "ya estás conectado!"
}

echo "== problema3"
start p3 "$WORK/p3-servidor" --port 0
chat_checks p3 "$PORT"

echo "== problema6"
start p6 "$WORK/p6-servidor" --port 0 --rooms-file "$WORK/salas.json"
chat_checks p6 "$PORT"
expect "p6 nc salas" "$( (printf 'dani\n/create taller\n/rooms\n'; sleep 1) | timeout 10 nc 127.0.0.1 "$PORT")" "taller"

echo "== problema5"
mkdir -p "$WORK/archivos"
start p5 "$WORK/p5-servidor" --port 0 --dir "$WORK/archivos"
expect "p5 nc LIST vacío" "$(printf 'LIST\n' | timeout 5 nc -N 127.0.0.1 "$PORT")" "FILES 0"
printf 'contenido\n' > "$WORK/nota.txt"
"$WORK/p5-cliente" --port "$PORT" upload "$WORK/nota.txt" >/dev/null 2>&1
expect "p5 nc LIST tras subir" "$(printf 'LIST\n' | timeout 5 nc -N 127.0.0.1 "$PORT")" "nota.txt 10 "
expect "p5 telnet" "$(tel "$PORT" 'LIST\nQUIT\n')" "FILES 1"

echo "== problema8"
start p8 "$WORK/p8-servidor" --port 0
expect "p8 nc" "$( (printf 'LIST\n'; sleep 1) | timeout 5 nc 127.0.0.1 "$PORT")" "WELCOME"
expect "p8 telnet" "$(tel "$PORT" 'HELP\n')" "WELCOME"

echo "== problema4"
SITE=$WORK/sitio
mkdir -p "$SITE/listado/sub"
cat > "$SITE/index.html" <<'HTML'
<!doctype html><html><head><meta charset="utf-8"><title>taller</title>
<link rel="stylesheet" href="estilo.css"></head>
<body><h1>Hola desde problema4</h1><p class="nota">Una página con CSS y una imagen.</p>
<img src="punto.svg" width="120" height="120" alt="punto"></body></html>
HTML
printf 'body{font-family:sans-serif;background:#fdf6e3}h1{color:#b58900}.nota{color:#268bd2}\n' > "$SITE/estilo.css"
printf '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="120"><circle cx="60" cy="60" r="50" fill="#d33682"/></svg>\n' > "$SITE/punto.svg"
printf 'uno\n' > "$SITE/listado/a <b>.txt"; printf 'dos\n' > "$SITE/listado/ñandú.txt"
start p4 "$WORK/p4-servidor" --port 0 --dir "$SITE"
P4=$PORT
expect "p4 curl GET" "$(curl -sS -i "http://127.0.0.1:$P4/")" "Hola desde problema4"
expect "p4 curl HEAD" "$(curl -sS -I "http://127.0.0.1:$P4/estilo.css")" "Content-Type: text/css"
expect "p4 curl rango" "$(curl -sS -r 0-3 "http://127.0.0.1:$P4/estilo.css")" "body"
expect "p4 wget" "$(wget -qO- "http://127.0.0.1:$P4/listado/")" "%C3%B1and%C3%BA.txt"
expect "p4 python http.client" "$(python3 - "$P4" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for path in ("/", "/estilo.css", "/listado/"):
    c.request("GET", path)
    r = c.getresponse(); body = r.read()
    print(path, r.status, len(body))
c.request("GET", "/no-existe"); r = c.getresponse(); r.read(); print("404?", r.status)
PY
)" "404? 404"
expect "p4 nc" "$(printf 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | timeout 5 nc 127.0.0.1 "$P4")" "HTTP/1.1 200 OK"

echo "== problema7"
CERT=$WORK/cert
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$CERT.key" -out "$CERT.pem" -days 1 \
    -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
TLS_PORT=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$TLS_PORT" -cert "$CERT.pem" -key "$CERT.key" -www >/dev/null 2>&1 &
PIDS+=($!)
start p7 "$WORK/p7-servidor" --port 0 --connect-ports "443,$TLS_PORT,$P4"
P7=$PORT
expect "p7 curl -x" "$(curl -sS -x "http://127.0.0.1:$P7" "http://127.0.0.1:$P4/")" "Hola desde problema4"
expect "p7 curl -p -x (túnel)" "$(curl -sS -p -x "http://127.0.0.1:$P7" "http://127.0.0.1:$P4/estilo.css")" "font-family"
sleep 0.3
expect "p7 curl https por CONNECT (certificado verificado)" \
    "$(curl -sS --cacert "$CERT.pem" -x "http://127.0.0.1:$P7" "https://localhost:$TLS_PORT/")" "s_server"
expect "p7 wget" "$(http_proxy="http://127.0.0.1:$P7" wget -qO- "http://127.0.0.1:$P4/")" "Hola desde problema4"
expect "p7 python http.client" "$(python3 - "$P7" "$P4" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request("GET", f"http://127.0.0.1:{sys.argv[2]}/estilo.css")
r = c.getresponse(); print(r.status, r.getheader("Via"), r.read()[:4])
PY
)" "200"
expect "p7 estadísticas" "$(curl -sS -x "http://127.0.0.1:$P7" http://proxy.local/stats)" "requests"

echo "== problema9"
start p9 "$WORK/p9-servidor" demo --nodes 3 --port 0 --control-port 0 --data-dir "$WORK/datos"
P9=$PORT
# Los nodos son procesos hijos de la demostración: esperar a la línea «N nodos en marcha; ...».
for _ in $(seq 200); do grep -q " en marcha; " "$WORK/p9.out" 2>/dev/null && break; sleep 0.1; done
expect "p9 redis-cli SET" "$(timeout 5 redis-cli -p "$P9" SET clave valor)" "OK"
expect "p9 redis-cli GET" "$(timeout 5 redis-cli -p "$P9" GET clave)" "valor"
expect "p9 nc inline" "$( (printf 'PING\r\n'; sleep 0.5) | timeout 5 nc 127.0.0.1 "$P9")" "+PONG"
expect "p9 telnet" "$(tel "$P9" 'SET t 1\nGET t\n')" "+OK"

echo "== Chromium sin ventana"
if [ "${SKIP_BROWSER:-}" = 1 ]; then
    echo "(SKIP_BROWSER=1: se saltan)"
else
    CHROME=$(command -v chromium || command -v chromium-browser || true)
    shot() { # NOMBRE URL [opciones]
        local name=$1 url=$2; shift 2
        rm -f "$OUT/$name.png"
        timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
            --disable-background-networking --disable-component-update --disable-sync \
            --user-data-dir="$WORK/chrome-$name" --window-size=800,600 \
            --screenshot="$OUT/$name.png" "$@" "$url" >/dev/null 2>&1
        if [ -s "$OUT/$name.png" ] && [ "$(stat -c %s "$OUT/$name.png")" -gt 2000 ]; then ok "chromium $name"; else bad "chromium $name"; fi
    }
    if [ -z "$CHROME" ]; then
        bad "chromium" "no está instalado (apt-get install chromium)"
    else
        shot p4-pagina "http://127.0.0.1:$P4/"
        shot p4-listado "http://127.0.0.1:$P4/listado/"
        # Chromium no usa el proxy para loopback salvo que se le quite esa excepción.
        stats() { curl -sS -x "http://127.0.0.1:$P7" http://proxy.local/stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])'; }
        before=$(stats)
        shot p7-proxy "http://127.0.0.1:$P4/" --proxy-server="http://127.0.0.1:$P7" --proxy-bypass-list="<-loopback>"
        after=$(stats)
        # La página, su CSS y su imagen (y la consulta de estadísticas) pasan por el proxy.
        if [ "$((after - before))" -ge 3 ]; then ok "chromium pasó por el proxy ($before -> $after peticiones)"; else bad "chromium pasó por el proxy" "$before -> $after"; fi
    fi
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
