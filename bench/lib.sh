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
