//! Reenviar una petición al origen y su respuesta al cliente, sin guardar cuerpos en memoria.
//!
//! Pasos de cada petición:
//! 1. Reescribir la cabecera: línea de petición en forma de origen (`GET /ruta HTTP/1.1`),
//!    `Host` del destino, fuera las cabeceras de salto, `Via` y `X-Forwarded-For` añadidas,
//!    reglas de `--add-header`/`--remove-header`, y la delimitación del cuerpo de nuevo.
//! 2. Conseguir una conexión al origen (`upstream`): la que esta conexión de cliente
//!    usó la última vez, una en reposo del [`super::pool`], o una nueva. Si una reutilizada resulta estar muerta y la
//!    petición no tenía cuerpo, se reintenta una vez con una conexión nueva.
//! 3. Enviar la cabecera y copiar el cuerpo del cliente al origen (`Content-Length` tal cual;
//!    `chunked` decodificado y vuelto a codificar, así un cuerpo mal formado no llega nunca
//!    al origen).
//! 4. Leer la cabecera de la respuesta (504 si no llega en `--upstream-timeout`, 502 si es
//!    basura o el origen cierra), quitar sus cabeceras de salto, añadir `Via`, y copiar el
//!    cuerpo al cliente trozo a trozo según su delimitación: `Content-Length`, `chunked`, o
//!    hasta el cierre (que a un cliente HTTP/1.1 se le envía en `chunked` para no perder su
//!    conexión persistente).
//!
//! Los buffers son fijos ([`BODY_BUFFER`]): un cuerpo de 10 GiB pasa con la misma memoria que
//! uno de 10 bytes, y cada trozo se envía al cliente en cuanto llega (sirve para respuestas
//! que se generan poco a poco).

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::time::Instant;

use common::http::{
    self, write_chunk, write_last_chunk, BodyKind, BodyReader, Headers, HttpError, RequestHead,
    ResponseHead, Version,
};
use common::net::{is_disconnect, is_timeout};

use super::client::{Client, Mode, Next, Outcome, Sticky, BODY_BUFFER};
use super::pool::UpstreamConn;
use super::rewrite::{add_forwarded_for, add_via, strip_hop_by_hop};
use super::stats::add;
use super::upstream::{acquire, fail_upstream};
use super::Proxy;
use crate::protocolo::Origin;

/// Cómo se escribe un cuerpo al otro lado.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFraming {
    /// Los bytes tal cual (`Content-Length` o hasta el cierre).
    Raw,
    /// En trozos `chunked`, con el trozo final al terminar.
    Chunked,
}

/// Fallo al copiar un cuerpo: ¿de qué lado?
#[derive(Debug)]
enum PumpError {
    /// Al leer del que envía.
    Read(io::Error),
    /// Al escribir al que recibe.
    Write(io::Error),
}

/// Copia `body` a `out` con la delimitación `framing`, pasando por `buf` (el de la conexión
/// de cliente, reservado una vez). Con `flush_each`, cada trozo leído se envía enseguida
/// (respuestas); si no, solo al final (peticiones).
fn pump<R: BufRead>(
    body: &mut BodyReader<R>,
    out: &mut impl Write,
    framing: OutFraming,
    flush_each: bool,
    buf: &mut [u8],
) -> Result<u64, PumpError> {
    let mut total = 0u64;
    loop {
        let n = match body.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PumpError::Read(e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        let written = match framing {
            OutFraming::Raw => out.write_all(chunk),
            OutFraming::Chunked => write_chunk(out, chunk),
        };
        written.map_err(PumpError::Write)?;
        if flush_each {
            out.flush().map_err(PumpError::Write)?;
        }
        total += n as u64;
    }
    if framing == OutFraming::Chunked {
        let empty = Headers::new();
        let trailers = match body {
            BodyReader::Chunked(r) => r.trailers(),
            _ => &empty,
        };
        write_last_chunk(out, trailers).map_err(PumpError::Write)?;
    }
    out.flush().map_err(PumpError::Write)?;
    Ok(total)
}

/// `1.0` o `1.1`, para `Via`.
fn version_number(v: Version) -> &'static str {
    match v {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    }
}

/// Por qué no llegó una respuesta válida del origen.
#[derive(Debug)]
enum ResponseFailure {
    /// El origen cerró sin enviar nada (en una conexión reutilizada: estaba muerta).
    Closed,
    /// No contestó a tiempo (504).
    Timeout,
    /// Contestó algo que no es HTTP/1.x válido (502).
    Garbage(String),
}

/// Respuestas intermedias 1xx que se aceptan antes de la final: un origen que enviara 1xx sin
/// fin tendría ocupado el hilo para siempre.
const MAX_INTERIM_RESPONSES: usize = 16;

/// Lee la respuesta final del origen, saltando las intermedias 1xx (`100 Continue`, `103`).
fn read_final_response(
    proxy: &Proxy,
    conn: &mut UpstreamConn,
) -> Result<ResponseHead, ResponseFailure> {
    for _ in 0..=MAX_INTERIM_RESPONSES {
        match http::read_response_head(conn, &proxy.config.limits) {
            Ok(Some(r)) if r.status == 101 => {
                // Quitamos `Upgrade` al reenviar: un 101 es una respuesta imposible.
                return Err(ResponseFailure::Garbage(
                    "101 Switching Protocols sin haberlo pedido".into(),
                ));
            }
            Ok(Some(r)) if r.status < 200 => continue,
            Ok(Some(r)) => return Ok(r),
            Ok(None) => return Err(ResponseFailure::Closed),
            Err(HttpError::Timeout { .. }) => return Err(ResponseFailure::Timeout),
            Err(HttpError::Io(e)) if is_timeout(&e) => return Err(ResponseFailure::Timeout),
            Err(HttpError::Io(e)) if is_disconnect(&e) => return Err(ResponseFailure::Closed),
            Err(e) => return Err(ResponseFailure::Garbage(e.to_string())),
        }
    }
    Err(ResponseFailure::Garbage(format!(
        "más de {MAX_INTERIM_RESPONSES} respuestas 1xx seguidas"
    )))
}

/// Reenvía una petición (ya comprobada) a `origin` y su respuesta al cliente.
///
/// `path` es el destino en forma de origen; en modo explícito (`Mode::Forward`, la forma
/// absoluta) `Host` se sustituye por el del destino (RFC 9112 §3.2.2); en los otros modos
/// queda el del cliente.
pub(crate) fn forward(
    client: &mut Client<'_>,
    head: RequestHead,
    origin: &Origin,
    path: String,
    kind: BodyKind,
    mode: Mode,
) -> Outcome {
    let request = Request::new(client, head, origin, path, kind, mode);
    let (conn, response) = match exchange(client, &request, origin) {
        Ok(pair) => pair,
        Err(outcome) => return outcome,
    };
    relay_response(client, &request, origin, conn, response)
}

/// Una petición lista para el origen, y lo que hace falta recordar de la original para
/// contestar al cliente.
struct Request {
    /// La cabecera ya reescrita y codificada.
    encoded: Vec<u8>,
    method: String,
    /// La versión que habló el cliente.
    version: Version,
    kind: BodyKind,
    /// ¿Quiere el cliente seguir con la conexión abierta?
    keep_alive: bool,
    /// ¿Espera el cliente un `100 Continue` antes de enviar el cuerpo?
    expect_continue: bool,
    /// `host:puerto` del origen: la clave de sus conexiones en reposo.
    key: String,
}

impl Request {
    /// Paso 1: la cabecera hacia el origen.
    fn new(
        client: &Client<'_>,
        head: RequestHead,
        origin: &Origin,
        path: String,
        kind: BodyKind,
        mode: Mode,
    ) -> Self {
        let config = &client.proxy.config;
        let keep_alive = head.keep_alive();
        let RequestHead {
            method,
            version,
            mut headers,
            ..
        } = head;
        let expect_continue = headers.has_token("expect", "100-continue");
        let had_length = headers.contains("content-length");
        strip_hop_by_hop(&mut headers);
        headers.remove("content-length");
        if expect_continue {
            // El `100 Continue` se lo damos nosotros al cliente (véase `send_body`).
            headers.remove("expect");
        }
        if mode == Mode::Forward || !headers.contains("host") {
            headers.set("Host", origin.host_header());
        }
        add_via(&mut headers, version_number(version), &config.via_name);
        decrement_max_forwards(&method, &mut headers);
        add_forwarded_for(&mut headers, client.peer.ip());
        config.rules.apply(&mut headers);
        match kind {
            BodyKind::Length(n) => headers.push("Content-Length", n.to_string()),
            BodyKind::Chunked => headers.push("Transfer-Encoding", "chunked"),
            BodyKind::None if had_length => headers.push("Content-Length", "0"),
            BodyKind::None | BodyKind::CloseDelimited => {}
        }
        let upstream_head = RequestHead {
            method,
            target: path,
            version: Version::Http11,
            headers,
        };
        let mut encoded = Vec::with_capacity(1024);
        upstream_head.encode(&mut encoded);
        Request {
            encoded,
            method: upstream_head.method,
            version,
            kind,
            keep_alive,
            expect_continue,
            key: origin.to_string(),
        }
    }
}

/// Pasos 2 y 3: conexión, cabecera y cuerpo; y la cabecera de la respuesta. Un reintento si
/// una conexión reutilizada estaba muerta y aún no habíamos consumido nada del cliente. Si
/// no se consigue, el cliente ya tiene su error y se devuelve su [`Outcome`].
fn exchange(
    client: &mut Client<'_>,
    request: &Request,
    origin: &Origin,
) -> Result<(UpstreamConn, ResponseHead), Outcome> {
    let proxy = client.proxy;
    let peer = client.peer;
    let has_body = request.kind != BodyKind::None;
    let mut retried = false;
    loop {
        let (mut conn, reused) = match acquire(client, &request.key, origin) {
            Ok(pair) => pair,
            Err(failure) => return Err(fail_upstream(client, origin, failure)),
        };
        let can_retry = reused && !has_body && !retried;
        if let Err(e) = conn.get_mut().write_all(&request.encoded) {
            if can_retry {
                retried = true;
                continue;
            }
            add(&proxy.stats.upstream_errors, 1);
            log::warn!("{peer}: no se pudo enviar la petición a {origin}: {e}");
            let body = format!("el origen {origin} cerró la conexión\n");
            return Err(client.fail(502, &[], &body));
        }
        if has_body {
            send_body(client, request, origin, &conn)?;
        }
        match read_final_response(proxy, &mut conn) {
            Ok(response) => return Ok((conn, response)),
            Err(ResponseFailure::Closed) if can_retry => retried = true,
            Err(failure) => {
                add(&proxy.stats.upstream_errors, 1);
                let (status, what) = match failure {
                    ResponseFailure::Timeout => (504, "no contestó a tiempo".to_string()),
                    ResponseFailure::Closed => (502, "cerró sin responder".to_string()),
                    ResponseFailure::Garbage(e) => {
                        (502, format!("respondió algo que no es HTTP válido ({e})"))
                    }
                };
                log::warn!("{peer}: el origen {origin} {what}: {status}");
                return Err(client.fail(status, &[], &format!("el origen {origin} {what}\n")));
            }
        }
    }
}

/// Paso 3: el cuerpo de la petición, del cliente al origen (con el `100 Continue` antes, si
/// el cliente lo espera).
fn send_body(
    client: &mut Client<'_>,
    request: &Request,
    origin: &Origin,
    conn: &UpstreamConn,
) -> Result<(), Outcome> {
    let peer = client.peer;
    if request.expect_continue && request.version == Version::Http11 {
        let ok = client
            .writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .and_then(|()| client.writer.flush());
        if ok.is_err() {
            return Err(Outcome::close(0));
        }
    }
    let limits = client.proxy.config.chunk_limits;
    let mut body = BodyReader::new(&mut client.reader, request.kind, limits);
    let mut up = BufWriter::with_capacity(BODY_BUFFER, conn.get_ref());
    let framing = match request.kind {
        BodyKind::Chunked => OutFraming::Chunked,
        _ => OutFraming::Raw,
    };
    match pump(&mut body, &mut up, framing, false, &mut client.buf) {
        Ok(_) => Ok(()),
        Err(PumpError::Read(e)) => Err(client_body_failed(client, &e)),
        Err(PumpError::Write(e)) => {
            add(&client.proxy.stats.upstream_errors, 1);
            log::warn!("{peer}: el origen {origin} dejó de aceptar el cuerpo: {e}");
            let body = format!("el origen {origin} cerró la conexión durante el envío\n");
            Err(client.fail(502, &[], &body))
        }
    }
}

/// Paso 4: la respuesta hacia el cliente, cabecera y cuerpo. Si se leyó entera y el origen
/// la deja abierta, la conexión al origen se guarda para la siguiente petición.
fn relay_response(
    client: &mut Client<'_>,
    request: &Request,
    origin: &Origin,
    mut conn: UpstreamConn,
    response: ResponseHead,
) -> Outcome {
    let proxy = client.proxy;
    let peer = client.peer;
    let resp_kind =
        match http::response_body_kind(&request.method, response.status, &response.headers) {
            Ok(k) => k,
            Err(e) => {
                add(&proxy.stats.upstream_errors, 1);
                log::warn!("{peer}: respuesta de {origin} mal delimitada: {e}");
                let body =
                    format!("el origen {origin} respondió con un cuerpo mal delimitado ({e})\n");
                return client.fail(502, &[], &body);
            }
        };
    let origin_keep_alive = response.keep_alive();
    let status = response.status;
    let via = proxy.config.via_name.as_str();
    let (encoded, framing, keep_alive) = client_response_head(request, response, resp_kind, via);
    // La cabecera queda en el buffer y sale junto con el primer trozo del cuerpo.
    if let Err(e) = client.writer.write_all(&encoded) {
        log::debug!("{peer}: el cliente cerró antes de la respuesta: {e}");
        return Outcome::close(status);
    }
    let limits = proxy.config.chunk_limits;
    let mut body = BodyReader::new(&mut conn, resp_kind, limits);
    let result = pump(
        &mut body,
        &mut client.writer,
        framing,
        true,
        &mut client.buf,
    );
    drop(body);
    match result {
        Ok(_) => {}
        Err(PumpError::Read(e)) => {
            add(&proxy.stats.upstream_errors, 1);
            log::warn!("{peer}: la respuesta de {origin} se cortó: {e}");
            return Outcome::close(status);
        }
        Err(PumpError::Write(e)) => {
            log::debug!("{peer}: el cliente dejó de leer la respuesta: {e}");
            return Outcome::close(status);
        }
    }
    keep_upstream(client, request, conn, origin_keep_alive, resp_kind);
    let next = if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    };
    Outcome::new(status, next)
}

/// La cabecera de la respuesta para el cliente: sin las cabeceras de salto, con `Via` y con
/// la delimitación que entiende su versión. Devuelve también cómo copiar el cuerpo y si la
/// conexión con el cliente sigue.
fn client_response_head(
    request: &Request,
    response: ResponseHead,
    resp_kind: BodyKind,
    via: &str,
) -> (Vec<u8>, OutFraming, bool) {
    let ResponseHead {
        version: resp_version,
        status,
        reason,
        mut headers,
    } = response;
    // Una codificación distinta de `chunked` (rara) se pasa tal cual, hasta el cierre.
    let foreign_coding = match resp_kind {
        BodyKind::CloseDelimited => headers.get("transfer-encoding").map(str::to_string),
        _ => None,
    };
    strip_hop_by_hop(&mut headers);
    add_via(&mut headers, version_number(resp_version), via);
    let client_11 = request.version == Version::Http11;
    let (framing, keep_alive) = match resp_kind {
        BodyKind::None => (OutFraming::Raw, request.keep_alive),
        BodyKind::Length(n) => {
            // Solo se reescribe si venía en forma rara (`5, 5` o repetida): así se conserva
            // el orden original de las cabeceras.
            let n = n.to_string();
            if headers.get_all("content-length").ne([n.as_str()]) {
                headers.set("Content-Length", n);
            }
            (OutFraming::Raw, request.keep_alive)
        }
        BodyKind::Chunked | BodyKind::CloseDelimited if client_11 && foreign_coding.is_none() => {
            headers.push("Transfer-Encoding", "chunked");
            (OutFraming::Chunked, request.keep_alive)
        }
        BodyKind::Chunked | BodyKind::CloseDelimited => {
            if let Some(coding) = &foreign_coding {
                headers.push("Transfer-Encoding", coding.as_str());
            }
            (OutFraming::Raw, false)
        }
    };
    if !keep_alive {
        headers.push("Connection", "close");
    } else if request.version == Version::Http10 {
        headers.push("Connection", "keep-alive");
    }
    let client_head = ResponseHead {
        version: Version::Http11,
        status,
        reason,
        headers,
    };
    let mut encoded = Vec::with_capacity(1024);
    client_head.encode(&mut encoded);
    (encoded, framing, keep_alive)
}

/// Guarda la conexión al origen para la siguiente petición de este cliente, si se puede
/// reutilizar: el origen no pidió cerrarla, el cuerpo no iba hasta el cierre y no quedan
/// bytes sin leer tras la respuesta (un origen que envía más de lo que anunció dejaría esos
/// bytes como principio de la respuesta a la siguiente petición, quizá de otro cliente).
fn keep_upstream(
    client: &mut Client<'_>,
    request: &Request,
    conn: UpstreamConn,
    origin_keep_alive: bool,
    resp_kind: BodyKind,
) {
    if !origin_keep_alive || resp_kind == BodyKind::CloseDelimited {
        return;
    }
    if !conn.buffer().is_empty() {
        add(&client.proxy.stats.upstream_errors, 1);
        log::warn!(
            "{}: el origen {} envió {} bytes de más tras la respuesta: se descarta su conexión",
            client.peer,
            request.key,
            conn.buffer().len()
        );
        return;
    }
    client.upstream = Some(Sticky {
        key: request.key.clone(),
        conn,
        last_used: Instant::now(),
    });
}

/// `Max-Forwards` (RFC 9110 §7.6.2) solo cuenta en `TRACE` y `OPTIONS`: al reenviar, un
/// saltos menos. Con 0 no se llega aquí: el proxy contesta él mismo (véase `conexion`).
fn decrement_max_forwards(method: &str, headers: &mut Headers) {
    if let Some(n) = max_forwards(method, headers) {
        headers.set("Max-Forwards", n.saturating_sub(1).to_string());
    }
}

/// El valor de `Max-Forwards` si el método es `TRACE` u `OPTIONS` y el valor es un número
/// (uno que no se entiende se deja pasar tal cual, como si no estuviera).
pub(crate) fn max_forwards(method: &str, headers: &Headers) -> Option<u64> {
    if method != "TRACE" && method != "OPTIONS" {
        return None;
    }
    headers.get("max-forwards")?.trim().parse().ok()
}

/// El cuerpo de la petición no llegó bien del cliente: mal formado (400), tiempo agotado (408)
/// o conexión cortada. La conexión al origen, con media petición enviada, se descarta.
fn client_body_failed(client: &mut Client<'_>, e: &io::Error) -> Outcome {
    let peer = client.peer;
    if let Some(he) = HttpError::from_io(e) {
        log::warn!("{peer}: cuerpo de la petición no válido: {he}");
        let status = he.status();
        return client.fail(
            status,
            &[],
            &format!("cuerpo de la petición no válido: {he}\n"),
        );
    }
    if is_timeout(e) {
        log::warn!("{peer}: el cliente no terminó de enviar el cuerpo a tiempo");
        return client.fail(408, &[], "se agotó el tiempo esperando el cuerpo\n");
    }
    log::debug!("{peer}: el cliente cortó durante el cuerpo: {e}");
    Outcome::close(0)
}
