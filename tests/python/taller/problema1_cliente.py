"""Cliente del problema 1 escrito como pide el esqueleto del taller.

Envía el mensaje sin salto de línea y sin medio cierre, espera un solo
recv(1024) y muestra la respuesta.

Uso: python3 problema1_cliente.py HOST PUERTO [MENSAJE]
"""
import socket
import sys

host = sys.argv[1]
puerto = int(sys.argv[2])
mensaje = sys.argv[3] if len(sys.argv) > 3 else "Mundo!"

cliente = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# Una prueba nunca debe colgarse: si no llega nada en 10 s, recv falla.
cliente.settimeout(10)
cliente.connect((host, puerto))
cliente.sendall(mensaje.encode())
respuesta = cliente.recv(1024)
print(respuesta.decode(errors="replace"), flush=True)
cliente.close()
