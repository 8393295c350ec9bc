//! Una conexión de cliente: leer peticiones una tras otra y decidir qué hacer con cada una.
//!
//! Orden de las comprobaciones de cada petición (la primera que falla contesta):
//! 1. cabecera bien formada y dentro de los límites (400, 408, 414, 431, 505);
//! 2. destino válido (400) y, si es `http://proxy.local/stats`, las estadísticas;
//! 3. la petición no lleva ya nuestro `Via` (si lo lleva, ha dado la vuelta: 508);
//! 4. credenciales de `--auth` en las peticiones de proxy (407 con `Proxy-Authenticate`);
//! 5. host no bloqueado por `--block` (403);
//! 6. `TRACE`/`OPTIONS` con `Max-Forwards: 0`: contesta el propio proxy (RFC 9110 §7.6.2);
//! 7. cuerpo bien delimitado: nada de contrabando (400);
//! 8. `CONNECT` → [`super::tunnel`]; lo demás → [`super::forward`], que antes de conectar
//!    comprueba la política de destinos (403) y que el destino no sea el propio proxy (508).
//!
//! La dirección del cliente se comprueba contra `--allow` antes de leer nada (403).
//! Tras un error generado por el proxy la conexión se cierra: no sabemos dónde empieza la
//! siguiente petición si el cuerpo de ésta no se leyó.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use common::http::{self, HttpError, RequestHead, Target};

use super::access::{check_proxy_auth, is_allowed, is_blocked};
use super::access_log::AccessRecord;
use super::client::{connection_header, now_http_date, Client, Mode, Next, Outcome};
use super::forward::max_forwards;
use super::rewrite::via_contains;
use super::stats::add;
use super::transparent::{self, host_authority, Destination};
use super::{forward, tunnel, Proxy};
use crate::protocolo::{local_response, Origin, STATS_HOST, STATS_PATH};

/// Atiende una conexión de cliente hasta que se cierre.
pub(crate) fn handle(proxy: &Proxy, stream: TcpStream, peer: SocketAddr) {
    let _active = proxy.stats.connection();
    let mut client = match Client::new(proxy, stream, peer) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{peer}: no se pudo preparar el socket: {e}");
            return;
        }
    };
    log::debug!("{peer}: conexión abierta");
    if !is_allowed(peer.ip(), &proxy.config.allow) {
        log::warn!("{peer}: cliente fuera de las redes permitidas (--allow): 403");
        add(&proxy.stats.requests, 1);
        proxy.stats.record_status(403);
        let started = Instant::now();
        client.fail(
            403,
            &[],
            "este proxy no atiende a su red (véase --allow del servidor)\n",
        );
        record_unparsed(&mut client, 403, 0, 0, started);
        client.close();
        return;
    }
    let mut counted_in = 0;
    let mut counted_out = 0;
    loop {
        client.start_head();
        let head = match http::read_request_head(&mut client.reader, &proxy.config.limits) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(HttpError::Timeout { received: 0 }) => {
                log::debug!("{peer}: conexión inactiva: se cierra");
                break;
            }
            Err(HttpError::Io(e)) => {
                log::debug!("{peer}: error de lectura: {e}");
                break;
            }
            Err(e) => {
                log::warn!("{peer}: petición mal formada: {e}");
                add(&proxy.stats.requests, 1);
                let status = e.status();
                proxy.stats.record_status(status);
                let started = Instant::now();
                client.fail(status, &[], &format!("petición no válida: {e}\n"));
                record_unparsed(&mut client, status, counted_in, counted_out, started);
                break;
            }
        };
        client.end_head();
        let started = Instant::now();
        add(&proxy.stats.requests, 1);
        let method = head.method.clone();
        let target = head.target.clone();
        let outcome = serve_request(&mut client, head);
        proxy.stats.record_status(outcome.status);
        let (bytes_in, bytes_out) = (client.bytes_in(), client.bytes_out());
        add(&proxy.stats.bytes_from_clients, outcome.tunnel_in);
        add(&proxy.stats.bytes_to_clients, outcome.tunnel_out);
        proxy.log.record(&AccessRecord {
            client: peer,
            method: &method,
            target: &target,
            status: outcome.status,
            bytes_in: bytes_in - counted_in + outcome.tunnel_in,
            bytes_out: bytes_out - counted_out + outcome.tunnel_out,
            duration: started.elapsed(),
        });
        account(&mut client, counted_in, counted_out);
        counted_in = bytes_in;
        counted_out = bytes_out;
        if outcome.next == Next::Close {
            break;
        }
    }
    client.close();
    log::debug!("{peer}: conexión cerrada");
}

/// Anota (registro de accesos y bytes) una petición que no llegó a entenderse o a leerse.
fn record_unparsed(
    client: &mut Client<'_>,
    status: u16,
    counted_in: u64,
    counted_out: u64,
    started: Instant,
) {
    client.proxy.log.record(&AccessRecord {
        client: client.peer,
        method: "-",
        target: "-",
        status,
        bytes_in: client.bytes_in() - counted_in,
        bytes_out: client.bytes_out() - counted_out,
        duration: started.elapsed(),
    });
    account(client, counted_in, counted_out);
}

/// Suma a las estadísticas los bytes pasados desde la última cuenta.
fn account(client: &mut Client<'_>, counted_in: u64, counted_out: u64) {
    let stats = &client.proxy.stats;
    add(&stats.bytes_from_clients, client.bytes_in() - counted_in);
    add(&stats.bytes_to_clients, client.bytes_out() - counted_out);
}

/// Decide qué hacer con una petición ya leída.
fn serve_request(client: &mut Client<'_>, head: RequestHead) -> Outcome {
    let proxy = client.proxy;
    let peer = client.peer;
    let target = match Target::parse(&head.method, &head.target) {
        Ok(t) => t,
        Err(e) => {
            log::warn!("{peer}: destino no válido {:?}: {e}", head.target);
            return client.fail(400, &[], &format!("destino no válido: {e}\n"));
        }
    };
    // Exactamente un `Host` en HTTP/1.1 (RFC 9112 §3.2): dos `Host` distintos son otra forma
    // de engañar a un proxy y a un servidor para que entiendan destinos diferentes.
    if let Err(e) = head.check_host() {
        log::warn!("{peer}: {e}");
        return client.fail(400, &[], &format!("petición no válida: {e}\n"));
    }
    if is_stats_request(&head, &target) {
        return serve_stats(client, &head);
    }
    if via_contains(&head.headers, &proxy.config.via_name) {
        log::warn!("{peer}: la petición ya pasó por este proxy (Via): bucle evitado");
        return client.fail(
            508,
            &[],
            "la petición ya pasó por este proxy (cabecera Via): se evita el bucle\n",
        );
    }
    let Route { origin, path, mode } = match route(client, &head, target) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    proxy.stats.record_mode(mode);
    if mode == Mode::Forward {
        if let Some(creds) = &proxy.config.auth {
            let given = head.headers.get("proxy-authorization").map(str::as_bytes);
            if !check_proxy_auth(given, creds) {
                log::warn!("{peer}: credenciales de proxy ausentes o incorrectas: 407");
                return client.fail(
                    407,
                    &[("Proxy-Authenticate", "Basic realm=\"taller-proxy\"")],
                    "el proxy necesita credenciales (Proxy-Authorization: Basic)\n",
                );
            }
        }
    }
    if mode != Mode::Reverse && !proxy.config.block.is_empty() {
        // En modo transparente cuentan el destino real y el nombre que dio el cliente.
        let named = match mode {
            Mode::Transparent => head.headers.get("host").and_then(host_authority),
            _ => None,
        };
        let blocked = std::iter::once(&origin.host)
            .chain(named.as_ref().map(|n| &n.host))
            .find(|h| is_blocked(h, &proxy.config.block));
        if let Some(host) = blocked {
            log::warn!("{peer}: host bloqueado {host}: 403");
            return client.fail(
                403,
                &[],
                &format!("el acceso a {host} está bloqueado en este proxy\n"),
            );
        }
    }
    if max_forwards(&head.method, &head.headers) == Some(0) {
        return answer_max_forwards(client, &head);
    }
    if head.method == "CONNECT" {
        return tunnel::open(client, &origin);
    }
    let kind = match http::request_body_kind(&head) {
        Ok(kind) => kind,
        Err(e) => {
            log::warn!("{peer}: cuerpo mal delimitado: {e}");
            let status = e.status();
            return client.fail(status, &[], &format!("petición rechazada: {e}\n"));
        }
    };
    forward::forward(client, head, &origin, path, kind, mode)
}

/// A dónde va una petición y en qué modo la atiende el proxy.
struct Route {
    origin: Origin,
    /// El destino en forma de origen (`/ruta?consulta`), vacío para `CONNECT`.
    path: String,
    mode: Mode,
}

/// Decide el destino según la forma de la petición: forma absoluta o `CONNECT` → proxy
/// explícito; forma de origen → el `--upstream` (inverso) o, con `--transparent`, la
/// dirección original o el `Host`. Una conexión redirigida por el núcleo va siempre a su
/// dirección original, sea cual sea la forma. Si no hay destino, el cliente ya tiene su 400.
fn route(client: &mut Client<'_>, head: &RequestHead, target: Target) -> Result<Route, Outcome> {
    let config = &client.proxy.config;
    if client.original_dst.is_some()
        || (config.transparent && matches!(target, Target::Origin { .. } | Target::Asterisk))
    {
        let path = match target {
            Target::Absolute { path_and_query, .. } => path_and_query,
            Target::Authority { .. } => {
                return Err(client.fail(
                    400,
                    &[],
                    "CONNECT no tiene sentido en una conexión interceptada por el proxy \
                     transparente\n",
                ))
            }
            Target::Origin { .. } | Target::Asterisk => head.target.clone(),
        };
        let origin = transparent_origin(client, head)?;
        return Ok(Route {
            origin,
            path,
            mode: Mode::Transparent,
        });
    }
    let (origin, path, mode) = match target {
        Target::Absolute {
            scheme,
            host,
            port,
            path_and_query,
        } => {
            if scheme != "http" {
                return Err(client.fail(
                    400,
                    &[],
                    "este proxy no habla TLS con el origen: para https:// use CONNECT\n",
                ));
            }
            (Origin::new(&host, port), path_and_query, Mode::Forward)
        }
        Target::Authority { host, port } => {
            (Origin::new(&host, port), String::new(), Mode::Forward)
        }
        Target::Origin { .. } | Target::Asterisk => match &config.upstream {
            Some(up) => (up.clone(), head.target.clone(), Mode::Reverse),
            None => {
                return Err(client.fail(
                    400,
                    &[],
                    "esto es un proxy: pida la URL completa (GET http://host/ruta) o arranque \
                     el servidor con --upstream o --transparent\n",
                ))
            }
        },
    };
    Ok(Route { origin, path, mode })
}

/// El destino de una petición en modo transparente (véase [`super::transparent`]): la
/// dirección original de la conexión o, si no fue redirigida, el `Host`.
fn transparent_origin(client: &mut Client<'_>, head: &RequestHead) -> Result<Origin, Outcome> {
    let peer = client.peer;
    match transparent::destination(client.original_dst, head) {
        Destination::Origin { origin, mismatch } => {
            if let Some(host) = mismatch {
                add(&client.proxy.stats.transparent_host_mismatch, 1);
                log::warn!(
                    "{peer}: Host {host:?} no coincide con el destino original {origin}: gana \
                     el destino original"
                );
            }
            Ok(origin)
        }
        Destination::Unknown => {
            log::warn!("{peer}: petición transparente sin un Host válido: 400");
            Err(client.fail(
                400,
                &[],
                "proxy transparente: la petición necesita una cabecera Host válida\n",
            ))
        }
    }
}

/// ¿Es `GET http://proxy.local/stats` (o `GET /stats` con `Host: proxy.local`)?
fn is_stats_request(head: &RequestHead, target: &Target) -> bool {
    match target {
        Target::Absolute {
            host,
            path_and_query,
            ..
        } => host.eq_ignore_ascii_case(STATS_HOST) && path_and_query == STATS_PATH,
        Target::Origin { path, query: None } => {
            path == STATS_PATH
                && head
                    .headers
                    .get("host")
                    .is_some_and(|h| h.eq_ignore_ascii_case(STATS_HOST))
        }
        _ => false,
    }
}

/// Contesta las estadísticas en JSON (solo `GET` y `HEAD`).
fn serve_stats(client: &mut Client<'_>, head: &RequestHead) -> Outcome {
    if head.method != "GET" && head.method != "HEAD" {
        return client.fail(
            405,
            &[("Allow", "GET, HEAD")],
            "las estadísticas solo se leen con GET\n",
        );
    }
    if let Ok(http::BodyKind::Length(_) | http::BodyKind::Chunked) | Err(_) =
        http::request_body_kind(head)
    {
        return client.fail(400, &[], "una petición de estadísticas no lleva cuerpo\n");
    }
    let mut body = client.proxy.stats.to_json().to_string();
    body.push('\n');
    let extra = [("Cache-Control", "no-store")];
    respond_locally(client, head, "application/json", &extra, body.as_bytes())
}

/// `TRACE` u `OPTIONS` con `Max-Forwards: 0` (RFC 9110 §7.6.2): el proxy es el destinatario
/// final. A `TRACE` le devuelve la petición tal como llegó (`message/http`, sin las cabeceras
/// con secretos, como pide §9.3.8); a `OPTIONS`, los métodos que acepta.
fn answer_max_forwards(client: &mut Client<'_>, head: &RequestHead) -> Outcome {
    const ALLOW: &str = "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH";
    if head.method == "TRACE" {
        let mut echo = head.clone();
        for secret in ["authorization", "proxy-authorization", "cookie"] {
            echo.headers.remove(secret);
        }
        let mut body = Vec::new();
        echo.encode(&mut body);
        respond_locally(client, head, "message/http", &[], &body)
    } else {
        respond_locally(
            client,
            head,
            "text/plain; charset=utf-8",
            &[("Allow", ALLOW)],
            b"",
        )
    }
}

/// Contesta con una respuesta `200` del propio proxy (estadísticas, `Max-Forwards: 0`). La
/// conexión sigue si el cliente lo quiere y la petición no traía cuerpo (no lo hemos leído).
fn respond_locally(
    client: &mut Client<'_>,
    head: &RequestHead,
    content_type: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Outcome {
    let keep_alive =
        head.keep_alive() && matches!(http::request_body_kind(head), Ok(http::BodyKind::None));
    let date = now_http_date();
    let mut all = vec![("Date", date.as_str())];
    all.extend_from_slice(extra);
    let mut out = local_response(
        200,
        content_type,
        &all,
        body,
        connection_header(head.version, keep_alive),
    );
    if head.method == "HEAD" {
        // La cabecera de HEAD es la del GET (con su `Content-Length`), sin el cuerpo.
        out.truncate(out.len() - body.len());
    }
    let next = match client
        .writer
        .write_all(&out)
        .and_then(|()| client.writer.flush())
    {
        Ok(()) if keep_alive => Next::KeepAlive,
        _ => Next::Close,
    };
    Outcome::new(200, next)
}

/// El puerto de estadísticas (`--stats-port`): cualquier `GET` recibe el JSON.
pub(crate) fn handle_stats_only(proxy: &Proxy, stream: TcpStream, peer: SocketAddr) {
    let mut client = match Client::new(proxy, stream, peer) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{peer}: no se pudo preparar el socket: {e}");
            return;
        }
    };
    if !is_allowed(peer.ip(), &proxy.config.allow) {
        client.fail(403, &[], "este proxy no atiende a su red\n");
        client.close();
        return;
    }
    loop {
        let head = match http::read_request_head(&mut client.reader, &proxy.config.limits) {
            Ok(Some(head)) => head,
            Ok(None) | Err(HttpError::Timeout { received: 0 } | HttpError::Io(_)) => break,
            Err(e) => {
                client.fail(e.status(), &[], &format!("petición no válida: {e}\n"));
                break;
            }
        };
        client.end_head();
        if serve_stats(&mut client, &head).next == Next::Close {
            break;
        }
    }
    client.close();
}
