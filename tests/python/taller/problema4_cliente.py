"""Cliente HTTP del problema 4 escrito como pide el esqueleto del taller.

Envía una petición GET en HTTP/1.0 (el servidor cierra al terminar la
respuesta) y escribe en la salida todo lo que llega, cabecera incluida.

Uso: python3 problema4_cliente.py HOST PUERTO [RUTA]
"""
import socket
import sys

host = sys.argv[1]
puerto = int(sys.argv[2])
ruta = sys.argv[3] if len(sys.argv) > 3 else "/"

cliente = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cliente.settimeout(10)
cliente.connect((host, puerto))
peticion = f"GET {ruta} HTTP/1.0\r\nHost: {host}:{puerto}\r\n\r\n"
cliente.sendall(peticion.encode())
# Leemos de 1024 en 1024 hasta que el servidor cierra.
while True:
    datos = cliente.recv(1024)
    if not datos:
        break
    sys.stdout.buffer.write(datos)
sys.stdout.buffer.flush()
cliente.close()
