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
