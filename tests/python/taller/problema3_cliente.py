"""Cliente de chat del problema 3 escrito como pide el esqueleto del taller.

Envía el nombre sin salto de línea, espera la confirmación y después envía
cada línea de la entrada sin salto de línea. Un hilo muestra lo que llega.
«/quit» (o el fin de la entrada) cierra la conexión.

Uso: python3 problema3_cliente.py HOST PUERTO NOMBRE
"""
import socket
import sys
import threading

host = sys.argv[1]
puerto = int(sys.argv[2])
nombre = sys.argv[3]

cliente = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cliente.settimeout(10)
cliente.connect((host, puerto))
cliente.sendall(nombre.encode())
# La confirmación llega en un recv; así el nombre no se junta con el primer mensaje.
print(cliente.recv(1024).decode(errors="replace"), flush=True)
# En el chat se puede estar callado: a partir de aquí, sin plazo.
cliente.settimeout(None)


def recibir():
    while True:
        try:
            datos = cliente.recv(1024)
        except OSError:
            return
        if not datos:
            return
        print(datos.decode(errors="replace"), flush=True)


threading.Thread(target=recibir, daemon=True).start()
for linea in sys.stdin:
    texto = linea.rstrip("\n")
    if texto == "/quit":
        break
    cliente.sendall(texto.encode())
cliente.close()
