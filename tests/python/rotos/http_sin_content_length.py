"""Variante ROTA del servidor HTTP del taller (problema4): responde sin `Content-Length`.

`comprobar problema4` debe fallar en "GET de un fichero" y decir que falta la cabecera.
Es el servidor de `../taller/problema4_servidor.py` con solo `enviar` cambiada.
"""
import os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "taller"))
import problema4_servidor as bueno  # noqa: E402


def enviar_sin_longitud(conn, estado, tipo, cuerpo, con_cuerpo):
    cabecera = f"HTTP/1.0 {estado}\r\nContent-Type: {tipo}\r\nConnection: close\r\n\r\n"
    conn.sendall(cabecera.encode() + (cuerpo if con_cuerpo else b""))


bueno.enviar = enviar_sin_longitud

if __name__ == "__main__":
    bueno.main()
