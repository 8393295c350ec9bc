"""Problema 4 del taller: un servidor HTTP/1.0 de ficheros, con sockets y solo la biblioteca
estándar. GET y HEAD, Content-Type y Content-Length, 404, listado de directorios.

    python3 problema4_servidor.py --port 8004 --dir .
    cargo run -p tests --bin comprobar -- problema4 --addr 127.0.0.1:8004 --dir .
"""
import argparse, html, mimetypes, os, socket, threading, urllib.parse


def responder(conn, raiz):
    peticion = b""
    while b"\r\n\r\n" not in peticion and len(peticion) < 65536:
        trozo = conn.recv(4096)
        if not trozo:
            return
        peticion += trozo
    linea = peticion.split(b"\r\n")[0].decode("latin-1").split()
    if len(linea) != 3:
        return enviar(conn, "400 Bad Request", "text/plain", b"peticion mal formada\n", True)
    metodo, ruta, _version = linea
    if metodo not in ("GET", "HEAD"):
        return enviar(conn, "501 Not Implemented", "text/plain", b"metodo no admitido\n", True)
    partes = urllib.parse.unquote(ruta.split("?")[0]).split("/")
    if ".." in partes:  # nada fuera del directorio servido
        return enviar(conn, "403 Forbidden", "text/plain", b"prohibido\n", metodo == "GET")
    local = os.path.join(raiz, *[p for p in partes if p])
    if os.path.isdir(local):
        nombres = sorted(os.listdir(local))
        enlaces = "".join(f'<li><a href="{urllib.parse.quote(n)}">{html.escape(n)}</a></li>'
                          for n in nombres)
        cuerpo = f"<html><body><h1>{html.escape(ruta)}</h1><ul>{enlaces}</ul></body></html>"
        return enviar(conn, "200 OK", "text/html; charset=utf-8", cuerpo.encode(), metodo == "GET")
    if not os.path.isfile(local):
        return enviar(conn, "404 Not Found", "text/plain", b"no existe\n", metodo == "GET")
    tipo = mimetypes.guess_type(local)[0] or "application/octet-stream"
    with open(local, "rb") as f:  # en binario: los bytes tal cual
        enviar(conn, "200 OK", tipo, f.read(), metodo == "GET")


def enviar(conn, estado, tipo, cuerpo, con_cuerpo):
    cabecera = (f"HTTP/1.0 {estado}\r\nContent-Type: {tipo}\r\n"
                f"Content-Length: {len(cuerpo)}\r\nConnection: close\r\n\r\n")
    conn.sendall(cabecera.encode() + (cuerpo if con_cuerpo else b""))


def atender(conn, raiz):
    with conn:
        conn.settimeout(10)
        try:
            responder(conn, raiz)
        except OSError as e:
            print("error con un cliente:", e)


def main():
    args = argparse.ArgumentParser(description="servidor HTTP/1.0 de ficheros")
    args.add_argument("--host", default="127.0.0.1")
    args.add_argument("--port", type=int, default=8004)
    args.add_argument("--dir", default=".")
    opciones = args.parse_args()
    servidor = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    servidor.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    servidor.bind((opciones.host, opciones.port))
    servidor.listen()
    print("escuchando en %s:%d" % servidor.getsockname(), flush=True)
    while True:
        conn, _ = servidor.accept()
        threading.Thread(target=atender, args=(conn, opciones.dir), daemon=True).start()


if __name__ == "__main__":
    main()
