"""Servidor del problema 1 escrito como pide el esqueleto del taller.

Acepta una conexión, hace un solo recv(1024), responde sin salto de línea y
cierra esa conexión. Sigue aceptando a los siguientes clientes.

Uso: python3 problema1_servidor.py [--host HOST] [--port PUERTO]
"""
import argparse
import socket

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8001)
args = parser.parse_args()

servidor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
servidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
servidor.bind((args.host, args.port))
servidor.listen()
# Con --port 0 el sistema elige el puerto: lo decimos en la línea de «listo».
host, puerto = servidor.getsockname()[:2]
print(f"escuchando en {host}:{puerto}", flush=True)

while True:
    conexion, direccion = servidor.accept()
    # Un solo recv(1024): lo que llegue en él es el mensaje.
    mensaje = conexion.recv(1024)
    conexion.sendall(b"Hola, " + mensaje)
    conexion.close()
