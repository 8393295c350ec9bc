"""Variante ROTA de un chat (problema3): difunde cada mensaje a todos, también a quien lo
envió (el error típico de recorrer la lista de clientes sin saltarse el propio socket).

`comprobar problema3` debe fallar en "una línea llega a todos menos a quien la envía".
"""
import argparse, socket, threading

clientes = {}  # socket -> nombre
cerrojo = threading.Lock()


def difundir(mensaje):
    with cerrojo:
        destinos = list(clientes)
    for c in destinos:  # el fallo: también al remitente
        try:
            c.sendall(mensaje.encode())
        except OSError:
            pass


def atender(conn):
    with conn:
        conn.sendall("Introduce tu nombre:\n".encode())
        nombre = conn.recv(1024).decode(errors="replace").strip()
        if not nombre:
            return
        conn.sendall("ya estás conectado!\n".encode())
        difundir(f"{nombre} se ha unido al Chat.\n")
        with cerrojo:
            clientes[conn] = nombre
        while True:
            datos = conn.recv(1024)
            if not datos:
                break
            difundir(f"{nombre}: {datos.decode(errors='replace').strip()}\n")
        with cerrojo:
            clientes.pop(conn, None)
        difundir(f"{nombre} ha abandonado el Chat.\n")


def main():
    args = argparse.ArgumentParser(description="chat que devuelve el eco al remitente (roto a propósito)")
    args.add_argument("--port", type=int, default=8003)
    opciones = args.parse_args()
    servidor = socket.socket()
    servidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    servidor.bind(("127.0.0.1", opciones.port))
    servidor.listen()
    print("escuchando en %s:%d" % servidor.getsockname(), flush=True)
    while True:
        conn, _ = servidor.accept()
        threading.Thread(target=atender, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
