"""Servidor de chat del problema 3 escrito como pide el esqueleto del taller.

Un hilo por cliente. El primer recv(1024) es el nombre, guardado tal como
llegó; se confirma con «ya estás conectado!» y los demás reciben
«NOMBRE se ha unido al Chat.». Cada recv siguiente llega a los demás como
«NOMBRE: texto». Nada lleva salto de línea; «/quit» no es especial.

Uso: python3 problema3_servidor.py [--host HOST] [--port PUERTO]
"""
import argparse
import socket
import threading

clientes = {}  # conexión -> nombre
cerrojo = threading.Lock()


def difundir(texto, origen):
    """Envía texto a todos menos a origen."""
    with cerrojo:
        destinos = [c for c in clientes if c is not origen]
    for c in destinos:
        try:
            c.sendall(texto.encode())
        except OSError:
            pass


def atender(conexion):
    nombre = conexion.recv(1024).decode(errors="replace")
    if not nombre:
        conexion.close()
        return
    with cerrojo:
        clientes[conexion] = nombre
    conexion.sendall("ya estás conectado!".encode())
    difundir(f"{nombre} se ha unido al Chat.", conexion)
    while True:
        try:
            datos = conexion.recv(1024)
        except OSError:
            datos = b""
        if not datos:
            break
        difundir(f"{nombre}: {datos.decode(errors='replace')}", conexion)
    with cerrojo:
        del clientes[conexion]
    conexion.close()
    difundir(f"{nombre} ha abandonado el Chat.", None)


parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8003)
args = parser.parse_args()

servidor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
servidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
servidor.bind((args.host, args.port))
servidor.listen()
host, puerto = servidor.getsockname()[:2]
print(f"escuchando en {host}:{puerto}", flush=True)

while True:
    conexion, direccion = servidor.accept()
    threading.Thread(target=atender, args=(conexion,), daemon=True).start()
