//! Generador de carga para servidores de eco TCP (problema2, socat...).
//!
//! - `throughput`: envía `--bytes` por cada una de `--conns` conexiones mientras lee el eco en
//!   otro hilo, y da los MB/s de eco (bytes que van y vuelven, contados una vez).
//! - `latency`: ida y vuelta de 1 byte, `--count` veces por una conexión; da mediana y p99.
//!
//! Imprime una línea `clave=valor` por medida, fácil de leer desde un script.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

/// Mide un servidor de eco TCP.
#[derive(Parser)]
struct Args {
    /// Dirección del servidor de eco
    #[arg(long)]
    addr: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Caudal de eco con flujos grandes
    Throughput {
        /// Bytes que envía cada conexión
        #[arg(long, default_value_t = 1 << 30)]
        bytes: u64,
        /// Conexiones simultáneas
        #[arg(long, default_value_t = 1)]
        conns: usize,
    },
    /// Latencia de ida y vuelta de 1 byte
    Latency {
        /// Idas y vueltas
        #[arg(long, default_value_t = 20_000)]
        count: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.mode {
        Mode::Throughput { bytes, conns } => throughput(&args.addr, bytes, conns),
        Mode::Latency { count } => latency(&args.addr, count),
    }
}

fn throughput(addr: &str, bytes: u64, conns: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let addr = addr.to_string();
            thread::spawn(move || one_stream(&addr, bytes))
        })
        .collect();
    let mut total = 0u64;
    for w in workers {
        total += w.join().map_err(|_| anyhow::anyhow!("hilo en pánico"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "throughput_mb_s={:.1} bytes={total} secs={secs:.3}",
        total as f64 / secs / 1e6
    );
    Ok(())
}

fn one_stream(addr: &str, bytes: u64) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(addr).with_context(|| format!("conectar a {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let sender = thread::spawn(move || -> std::io::Result<()> {
        let buf = vec![0x5au8; 256 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            writer.write_all(buf.get(..n).unwrap_or_default())?;
            left -= n as u64;
        }
        writer.shutdown(std::net::Shutdown::Write)
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    let mut reader = &stream;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("hilo emisor en pánico"))??;
    if got != bytes {
        bail!("eco incompleto: {got} de {bytes} bytes");
    }
    Ok(got)
}

fn latency(addr: &str, count: usize) -> anyhow::Result<()> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("conectar a {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut samples = Vec::with_capacity(count);
    let mut byte = [0u8; 1];
    let started = Instant::now();
    for i in 0..count {
        let t = Instant::now();
        stream.write_all(&[i as u8])?;
        stream.read_exact(&mut byte)?;
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let secs = started.elapsed().as_secs_f64();
    samples.sort_unstable();
    let p50 = bench::percentile(&samples, 50.0).unwrap_or(0);
    let p99 = bench::percentile(&samples, 99.0).unwrap_or(0);
    println!(
        "rtt_p50_us={:.1} rtt_p99_us={:.1} round_trips_s={:.0}",
        p50 as f64 / 1e3,
        p99 as f64 / 1e3,
        count as f64 / secs
    );
    Ok(())
}
