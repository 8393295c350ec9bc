"""Servidor de eco del problema 2 escrito como pide el esqueleto del taller.

Por cada conexión: un solo recv(1024), lo devuelve tal cual y cierra. Si el
cliente envió más de 1024 bytes, el resto se queda sin leer (y al cerrar, el
sistema responde con un RST).

Uso: python3 problema2_servidor.py [--host HOST] [--port PUERTO]
"""
import argparse
import socket

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8002)
args = parser.parse_args()

servidor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
servidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
servidor.bind((args.host, args.port))
servidor.listen()
host, puerto = servidor.getsockname()[:2]
print(f"escuchando en {host}:{puerto}", flush=True)

while True:
    conexion, direccion = servidor.accept()
    datos = conexion.recv(1024)
    conexion.sendall(datos)
    conexion.close()
