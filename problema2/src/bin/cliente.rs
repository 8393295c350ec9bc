//! `cliente` del problema 2: interactivo en una terminal, flujo binario por tubería, o UDP.

use std::io::{self, BufReader, IsTerminal, Write};
use std::net::{ToSocketAddrs, UdpSocket};

use clap::Parser;
use common::exit::{finish, Failure};
use common::net::describe_io_error;
use problema2::cliente::{self, SessionEnd};
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
    finish(run(&args));
}

fn run(args: &Args) -> Result<(), Failure> {
    let terminal = io::stdin().is_terminal();
    if args.udp {
        return udp(args, terminal);
    }
    let connect = || Ok(args.client.connect(DEFAULT_PORT, "problema2")?);
    if !terminal {
        let stream = args.client.connect(DEFAULT_PORT, "problema2")?;
        cliente::stream_stdio(&stream)?;
        return Ok(());
    }
    let input = BufReader::new(io::stdin());
    if cliente::interactive(connect, input, io::stdout().lock())? == SessionEnd::ServerClosed {
        // No es un error: no quedaba ningún eco por llegar (código 0).
        let _ = writeln!(
            io::stderr(),
            "el servidor cerró la conexión; no quedaba ningún eco pendiente"
        );
    }
    Ok(())
}

fn udp(args: &Args, terminal: bool) -> Result<(), Failure> {
    let addr_text = args.client.addr(DEFAULT_PORT);
    let server = addr_text
        .to_socket_addrs()
        .map_err(|e| {
            Failure::connect(format!(
                "dirección no válida: {addr_text}: {}",
                describe_io_error(&e)
            ))
        })?
        .next()
        .ok_or_else(|| Failure::connect(format!("{addr_text} no resuelve a ninguna dirección")))?;
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| {
        Failure::connect(format!(
            "no se pudo abrir un socket UDP: {}",
            describe_io_error(&e)
        ))
    })?;
    cliente::udp_session(
        &socket,
        server,
        io::stdin().lock(),
        io::stdout().lock(),
        args.client.timeout(),
        terminal,
    )?;
    Ok(())
}
