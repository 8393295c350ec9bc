"""Cliente de eco del problema 2 escrito como pide el esqueleto del taller.

Envía el mensaje sin salto de línea y sin medio cierre, espera un solo
recv(1024) y muestra el eco.

Uso: python3 problema2_cliente.py HOST PUERTO [MENSAJE]
"""
import socket
import sys

host = sys.argv[1]
puerto = int(sys.argv[2])
mensaje = sys.argv[3] if len(sys.argv) > 3 else "hola eco"

cliente = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cliente.settimeout(10)
cliente.connect((host, puerto))
cliente.sendall(mensaje.encode())
eco = cliente.recv(1024)
print(eco.decode(errors="replace"), flush=True)
cliente.close()
