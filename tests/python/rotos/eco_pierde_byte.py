"""Variante ROTA de un servidor de eco (problema2): de cada trozo recibido devuelve todos los
bytes menos el último (el error típico de recortar el `\n` con `datos[:-1]`).

`comprobar problema2` debe fallar en "eco de texto" con la pista de que un eco devuelve
exactamente los mismos bytes.
"""
import argparse, socket, threading


def atender(conn):
    with conn:
        while True:
            datos = conn.recv(1024)
            if not datos:
                break
            conn.sendall(datos[:-1])  # el fallo: se pierde un byte


def main():
    args = argparse.ArgumentParser(description="eco que pierde un byte (roto a propósito)")
    args.add_argument("--port", type=int, default=8002)
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
