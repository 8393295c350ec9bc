//! `cliente` del problema 2: interactivo en una terminal, flujo binario por tubería, o UDP.

use std::io::{self, IsTerminal};
use std::net::{ToSocketAddrs, UdpSocket};

use anyhow::Context;
use clap::Parser;
use problema2::cliente;
use problema2::DEFAULT_PORT;

/// Cliente de eco por TCP o UDP: envía lo que se escribe y muestra lo que vuelve.
///
/// En una terminal pide mensajes; con una tubería envía stdin y escribe el eco en stdout (`cat f | cliente > copia` da una copia idéntica).
#[derive(Parser)]
#[command(name = "problema2", version, mut_arg("port", |a| common::ayuda::default_port(a, DEFAULT_PORT)))]
pub(crate) struct Args {
    #[command(flatten)]
    client: common::ClientArgs,
    /// Usar UDP: cada línea es un datagrama
    #[arg(long)]
    udp: bool,
}

pub(crate) fn main() {
    let args = common::ayuda::parse::<Args>();
    common::init_logging();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let stdin = io::stdin();
    let terminal = stdin.is_terminal();
    if args.udp {
        let addr_text = args.client.addr(DEFAULT_PORT);
        let server = addr_text
            .to_socket_addrs()
            .with_context(|| format!("dirección no válida: {addr_text}"))?
            .next()
            .with_context(|| format!("{addr_text} no resuelve a ninguna dirección"))?;
        let bind = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind).context("no se pudo abrir un socket UDP")?;
        cliente::udp_session(
            &socket,
            server,
            stdin.lock(),
            io::stdout().lock(),
            args.client.timeout(),
            terminal,
        )?;
        return Ok(());
    }
    let connect = || Ok(args.client.connect(DEFAULT_PORT, "problema2")?);
    if terminal {
        cliente::interactive(connect, stdin.lock(), io::stdout().lock())?;
    } else {
        cliente::stream_stdio(&connect()?)?;
    }
    Ok(())
}
