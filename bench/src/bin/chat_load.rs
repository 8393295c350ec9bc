//! Generador de carga para el chat (problema3, y la sala `general` de problema6), con
//! `redis-server` (PUBLISH/SUBSCRIBE en un canal) como referencia.
//!
//! Conecta `--clients` clientes a la misma sala, cada uno se presenta con un nombre
//! (`b0`, `b1`, ...), y después cada uno envía `--messages` mensajes. Cada mensaje lleva el
//! instante de envío (`@@remitente secuencia microsegundos`), así que quien lo recibe calcula
//! la latencia de entrega. Un cliente recibe los mensajes de todos los demás: en total
//! `N·(N-1)·M` entregas.
//!
//! Control de flujo: el emisor no deja más de `--window` entregas en vuelo (enviadas y aún
//! no recibidas, sumando todos los clientes) ni más de `--max-lag` mensajes pendientes para
//! un mismo cliente. Sin esto, con N = 1000 se llenarían las colas del servidor (que
//! desconecta a quien va retrasado) y se mediría el tamaño de una cola en vez del servidor;
//! con ello la latencia medida es la de una carga sostenida de `--window` entregas en vuelo.
//!
//! Con `--target redis` cada cliente es una conexión suscrita al canal `chat` y los mensajes
//! se publican con `PUBLISH` por una conexión aparte (una conexión suscrita no puede publicar);
//! redis entrega cada mensaje también a su remitente, y el lector simplemente lo ignora.
//!
//! Imprime una línea `clave=valor` con: entregas por segundo, mediana y p99 de la latencia,
//! entregas perdidas y, con `--pid`, la memoria residente máxima (VmHWM) del servidor.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bench::{peak_rss_kib, percentile};
use clap::{Parser, ValueEnum};
use common::line::read_line;

/// Confirmación de entrada en el chat (la misma en problema3 y problema6).
const CONNECTED: &str = "ya estás conectado!";

/// Parte común de los anuncios de entrada (`NOMBRE se ha unido al Chat.`).
const JOINED: &[u8] = b" se ha unido";

/// Longitud máxima de una línea recibida.
const MAX_LINE: usize = 64 * 1024;

/// Mide la difusión de un servidor de chat.
#[derive(Parser)]
struct Args {
    /// Dirección del servidor
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Puerto del servidor (por omisión, el del destino: 8003 o 8006)
    #[arg(long)]
    port: Option<u16>,
    /// Qué se mide: problema3, la sala `general` de problema6 o redis (PUBLISH/SUBSCRIBE)
    #[arg(long, value_enum, default_value_t = Target::P3)]
    target: Target,
    /// Clientes conectados a la vez
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Mensajes que envía cada cliente
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Entregas en vuelo como máximo, sumando todos los clientes
    #[arg(long, default_value_t = 20_000)]
    window: u64,
    /// Mensajes pendientes de recibir como máximo para un mismo cliente
    #[arg(long, default_value_t = 256)]
    max_lag: u64,
    /// PID del servidor, para leer su memoria máxima de /proc
    #[arg(long)]
    pid: Option<u32>,
    /// Segundos como máximo para toda la medida
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    /// problema3: chat de una sala
    P3,
    /// problema6: la sala `general` del chat con salas
    P6,
    /// redis-server: un canal PUBLISH/SUBSCRIBE (la referencia)
    Redis,
}

/// Canal de redis en el que se publica.
const REDIS_CHANNEL: &str = "chat";

/// Lo que comparte cada lector con el emisor.
struct Shared {
    /// Mensajes ajenos recibidos por cada cliente.
    received: Vec<AtomicU64>,
    /// Suma de `received`.
    total_received: AtomicU64,
    /// Anuncios de entrada (`... se ha unido ...`) recibidos, sumando todos los clientes.
    joins_seen: AtomicU64,
    /// Se acabó el plazo o la medida: los lectores salen.
    stop: AtomicBool,
    /// Instante de la última entrega, en microsegundos desde `base`.
    last_delivery_us: AtomicU64,
    /// Clientes cuya conexión se cerró antes de tiempo.
    closed: AtomicU64,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.clients < 2 {
        bail!("hacen falta al menos 2 clientes");
    }
    let port = args.port.unwrap_or(match args.target {
        Target::P3 => 8003,
        Target::P6 => 8006,
        Target::Redis => 6379,
    });
    let addr = common::cli::host_port(&args.host, port);
    let n = args.clients;
    let m = args.messages;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let base = Instant::now();

    let shared = Arc::new(Shared {
        received: (0..n).map(|_| AtomicU64::new(0)).collect(),
        total_received: AtomicU64::new(0),
        joins_seen: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        last_delivery_us: AtomicU64::new(0),
        closed: AtomicU64::new(0),
    });
    let expected_each = ((n - 1) * m) as u64;

    // 1. Conectar y presentarse, uno tras otro (así no se desborda la cola de `accept`).
    let mut writers = Vec::with_capacity(n);
    let mut readers = Vec::with_capacity(n);
    for i in 0..n {
        let stream = common::cli::connect_with_timeout(&addr, Duration::from_secs(10))
            .with_context(|| format!("cliente {i}: no se pudo conectar a {addr}"))?;
        stream.set_nodelay(true)?;
        let mut reader = BufReader::new(stream.try_clone()?);
        match args.target {
            Target::Redis => subscribe(&stream, &mut reader),
            Target::P3 | Target::P6 => handshake(&stream, &mut reader, &format!("b{i}")),
        }
        .with_context(|| format!("cliente {i}: presentación"))?;
        // Una vez dentro, las lecturas despiertan cada segundo para ver si hay que parar.
        stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        let sh = Arc::clone(&shared);
        let latencies = thread::Builder::new()
            .name(format!("lector-{i}"))
            .stack_size(128 * 1024)
            .spawn(move || read_deliveries(reader, i, expected_each, &sh, base))?;
        readers.push(latencies);
        if !matches!(args.target, Target::Redis) {
            writers.push(stream);
        }
    }
    // Con redis se publica por una conexión aparte, cuyas respuestas (`:N`) se descartan.
    if matches!(args.target, Target::Redis) {
        let publisher = common::cli::connect_with_timeout(&addr, Duration::from_secs(10))
            .with_context(|| format!("publicador: no se pudo conectar a {addr}"))?;
        publisher.set_nodelay(true)?;
        publisher.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut replies = publisher.try_clone()?;
        let sh = Arc::clone(&shared);
        thread::Builder::new()
            .name("respuestas".into())
            .spawn(move || {
                let mut sink = [0u8; 16 * 1024];
                while !sh.stop.load(Ordering::Relaxed) {
                    match std::io::Read::read(&mut replies, &mut sink) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) if common::net::is_timeout(&e) => {}
                        Err(_) => break,
                    }
                }
            })?;
        writers.push(publisher);
    }
    // Antes de medir, que lleguen los N·(N-1)/2 anuncios de entrada: si no, los primeros
    // mensajes harían cola tras ellos y su latencia mediría la presentación, no la difusión.
    let joins_expected = match args.target {
        Target::Redis => 0,
        Target::P3 | Target::P6 => (n * (n - 1) / 2) as u64,
    };
    let joins_deadline = Instant::now()
        + Duration::from_secs(20).min(deadline.saturating_duration_since(Instant::now()));
    while shared.joins_seen.load(Ordering::Relaxed) < joins_expected
        && Instant::now() < joins_deadline
    {
        thread::sleep(Duration::from_millis(5));
    }
    eprintln!("{n} clientes dentro; enviando {m} mensajes cada uno");
    // CPU del servidor solo durante la difusión (sin la presentación de los N clientes).
    let cpu_before = args.pid.and_then(cpu_seconds);

    // 2. Enviar por rondas (un mensaje de cada cliente por ronda) con control de flujo.
    let lag_cap = args.max_lag.max(1);
    let window = args.window.max(1);
    let fanout = (n - 1) as u64;
    let start_us = base.elapsed().as_micros() as u64;
    let mut sent_by = vec![0u64; n];
    let mut sent_total: u64 = 0;
    let mut min_recv_cache: u64 = 0;
    // Una conexión de envío por cliente (chat) o una sola para todos (redis).
    let slots = writers.len().max(1);
    'send: for seq in 0..m {
        for i in 0..n {
            // Pendientes de un cliente j: lo enviado por los demás menos lo que recibió,
            // `sent_total - (sent_by[j] + received[j])`. El máximo es `sent_total` menos el
            // mínimo de `sent_by[j] + received[j]`, que solo crece: lo guardamos y solo lo
            // recalculamos (recorriendo los N) cuando la cota dice que vamos al tope.
            loop {
                if Instant::now() > deadline {
                    break 'send;
                }
                let in_flight = (sent_total * fanout)
                    .saturating_sub(shared.total_received.load(Ordering::Relaxed));
                if in_flight < window && sent_total.saturating_sub(min_recv_cache) < lag_cap {
                    break;
                }
                if in_flight < window {
                    min_recv_cache = shared
                        .received
                        .iter()
                        .zip(&sent_by)
                        .map(|(r, s)| r.load(Ordering::Relaxed) + s)
                        .min()
                        .unwrap_or(0);
                    if sent_total.saturating_sub(min_recv_cache) < lag_cap {
                        break;
                    }
                }
                thread::sleep(Duration::from_micros(50));
            }
            let now_us = base.elapsed().as_micros() as u64;
            let probe = format!("@@{i} {seq} {now_us}");
            let msg = match args.target {
                Target::Redis => format!(
                    "*3\r\n$7\r\nPUBLISH\r\n${}\r\n{REDIS_CHANNEL}\r\n${}\r\n{probe}\r\n",
                    REDIS_CHANNEL.len(),
                    probe.len()
                ),
                Target::P3 | Target::P6 => format!("{probe}\n"),
            };
            let slot = i % slots;
            let Some(w) = writers.get_mut(slot) else {
                bail!("no hay conexión por la que enviar");
            };
            if let Err(e) = w.write_all(msg.as_bytes()) {
                eprintln!("cliente {i}: error al enviar: {e}");
            }
            sent_by[i] += 1;
            sent_total += 1;
        }
    }

    // 3. Esperar a que lleguen todas las entregas (o al plazo) y reunir las latencias.
    while Instant::now() < deadline {
        let done = shared
            .received
            .iter()
            .all(|r| r.load(Ordering::Relaxed) >= expected_each);
        if done || shared.closed.load(Ordering::Relaxed) as usize == n {
            break;
        }
        thread::sleep(Duration::from_millis(5));
    }
    shared.stop.store(true, Ordering::SeqCst);
    let mut latencies: Vec<u64> = Vec::with_capacity(n * (n - 1) * m);
    for r in readers {
        if let Ok(l) = r.join() {
            latencies.extend(l);
        }
    }
    latencies.sort_unstable();
    let delivered = latencies.len() as u64;
    let expected = expected_each * n as u64;
    let end_us = shared.last_delivery_us.load(Ordering::SeqCst);
    let secs = (end_us.saturating_sub(start_us)) as f64 / 1e6;
    let rate = if secs > 0.0 {
        delivered as f64 / secs
    } else {
        0.0
    };
    let ms = |v: Option<u64>| v.map_or(f64::NAN, |us| us as f64 / 1000.0);
    let cpu = args
        .pid
        .and_then(cpu_seconds)
        .zip(cpu_before)
        .map(|(after, before)| after - before);
    let cpu_txt = cpu.map_or("?".to_string(), |c| format!("{c:.2}"));
    let us_per_delivery = match cpu {
        Some(c) if delivered > 0 => format!("{:.2}", c * 1e6 / delivered as f64),
        _ => "?".to_string(),
    };
    let rss = args
        .pid
        .and_then(peak_rss_kib)
        .map_or("?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
    println!(
        "clientes={n} mensajes={m} entregas={delivered} perdidas={} cerrados={} segundos={secs:.2} \
         entregas_por_s={rate:.0} mediana_ms={:.2} p99_ms={:.2} max_ms={:.2} rss_pico_mib={rss} \
         cpu_servidor_s={cpu_txt} us_cpu_por_entrega={us_per_delivery}",
        expected - delivered.min(expected),
        shared.closed.load(Ordering::SeqCst),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied()),
    );
    drop(writers);
    Ok(())
}

/// Presentación: esperar la petición de nombre, enviarlo y esperar la confirmación.
fn handshake(
    mut stream: &TcpStream,
    reader: &mut BufReader<TcpStream>,
    name: &str,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    if !read_line(reader, &mut buf, MAX_LINE)? {
        bail!("el servidor cerró antes de pedir el nombre");
    }
    stream.write_all(format!("{name}\n").as_bytes())?;
    loop {
        if !read_line(reader, &mut buf, MAX_LINE)? {
            bail!("el servidor cerró durante la presentación");
        }
        let line = String::from_utf8_lossy(&buf);
        if line == CONNECTED {
            return Ok(());
        }
        if line.starts_with("ERROR") {
            bail!("el servidor rechazó el nombre {name}: {line}");
        }
    }
}

/// Suscribe la conexión al canal de redis y espera la confirmación (`:1`, el número de
/// suscripciones, es la última línea de la respuesta).
fn subscribe(mut stream: &TcpStream, reader: &mut BufReader<TcpStream>) -> anyhow::Result<()> {
    stream.write_all(format!("SUBSCRIBE {REDIS_CHANNEL}\r\n").as_bytes())?;
    let mut buf = Vec::new();
    loop {
        if !read_line(reader, &mut buf, MAX_LINE)? {
            bail!("redis cerró durante la suscripción");
        }
        if buf.starts_with(b":") {
            return Ok(());
        }
        if buf.starts_with(b"-") {
            bail!(
                "redis rechazó la suscripción: {}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
}

/// Lee las entregas de un cliente hasta recibir `expected` mensajes ajenos o hasta que se
/// pida parar; devuelve sus latencias en microsegundos.
fn read_deliveries(
    mut reader: BufReader<TcpStream>,
    me: usize,
    expected: u64,
    shared: &Shared,
    base: Instant,
) -> Vec<u64> {
    let mut latencies = Vec::with_capacity(expected.min(1 << 20) as usize);
    let mut buf = Vec::new();
    let counter = shared.received.get(me);
    let mut got = 0u64;
    while got < expected && !shared.stop.load(Ordering::Relaxed) {
        match read_line(&mut reader, &mut buf, MAX_LINE) {
            Ok(true) => {}
            Ok(false) => {
                shared.closed.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Err(e) if e.is_timeout() => continue,
            Err(_) => {
                shared.closed.fetch_add(1, Ordering::SeqCst);
                break;
            }
        }
        let Some((sender, sent_us)) = parse_probe(&buf) else {
            if buf.windows(JOINED.len()).any(|w| w == JOINED) {
                shared.joins_seen.fetch_add(1, Ordering::Relaxed);
            }
            continue; // otros anuncios, historial, ...
        };
        if sender == me {
            continue;
        }
        let now_us = base.elapsed().as_micros() as u64;
        latencies.push(now_us.saturating_sub(sent_us));
        got += 1;
        if let Some(c) = counter {
            c.store(got, Ordering::Relaxed);
        }
        shared.total_received.fetch_add(1, Ordering::Relaxed);
        shared.last_delivery_us.fetch_max(now_us, Ordering::Relaxed);
    }
    latencies
}

/// Tiempo de CPU (usuario + sistema) consumido hasta ahora por el proceso `pid`, en
/// segundos, leído de `/proc/PID/stat`. Es una medida menos sensible al ruido de una máquina
/// compartida que el tiempo de reloj.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // El nombre del proceso va entre paréntesis y puede tener espacios: partimos tras `)`.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Tras `)`: estado es el campo 0; utime y stime son los campos 11 y 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Los ticks del reloj del kernel son 100 por segundo en Linux (USER_HZ).
    Some((utime + stime) / 100.0)
}

/// Extrae remitente e instante de una línea `...@@remitente secuencia microsegundos`.
fn parse_probe(line: &[u8]) -> Option<(usize, u64)> {
    let line = std::str::from_utf8(line).ok()?;
    let (_, probe) = line.split_once("@@")?;
    let mut parts = probe.split_whitespace();
    let sender = parts.next()?.parse().ok()?;
    let _seq: u64 = parts.next()?.parse().ok()?;
    let sent_us = parts.next()?.parse().ok()?;
    Some((sender, sent_us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_found_after_any_prefix() {
        assert_eq!(parse_probe(b"b3: @@3 7 12345"), Some((3, 12345)));
        assert_eq!(parse_probe(b"[general] b3: @@3 7 1"), Some((3, 1)));
        assert_eq!(parse_probe(b"b3 se ha unido al Chat."), None);
        assert_eq!(parse_probe(b"b3: @@x 7 1"), None);
    }
}
