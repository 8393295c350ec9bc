//! Enviar un trozo de un fichero por un socket sin pasar los bytes por nuestra memoria.
//!
//! En Linux usamos `sendfile(2)`: el kernel copia de la caché de páginas del fichero al
//! socket, sin las dos copias (kernel → programa → kernel) y las miles de llamadas de 8 KiB
//! que hace `std::io::copy` de un `File` a un `TcpStream` (no usa `sendfile` para sockets).
//! Es lo que hace nginx con `sendfile on`. En otros sistemas, o si el kernel no admite
//! `sendfile` para ese fichero, copiamos con un buffer fijo de [`FALLBACK_BUFFER`] bytes.
//!
//! La posición del fichero no cambia: se lee con desplazamiento explícito.

use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream;

/// Buffer de la copia de reserva: 256 KiB, pocas llamadas por MiB y memoria acotada.
pub const FALLBACK_BUFFER: usize = 256 * 1024;

/// Envía los bytes `[offset, offset + count)` de `file` por `out` y devuelve cuántos envió.
///
/// Devuelve menos de `count` solo si el fichero se acortó mientras se enviaba (quien llama
/// debe entonces cortar la conexión: ya prometió `count` bytes).
///
/// # Errores
/// Los del socket (incluido su tiempo de espera de escritura, como `WouldBlock`) o del
/// fichero.
pub fn send_file(file: &File, offset: u64, count: u64, out: &TcpStream) -> io::Result<u64> {
    let mut sent = 0u64;
    #[cfg(target_os = "linux")]
    {
        use nix::errno::Errno;
        // Un `sendfile` mueve como mucho ~2 GiB; pedimos por tramos de 1 GiB.
        const STEP: u64 = 1 << 30;
        while sent < count {
            let Ok(mut pos) = i64::try_from(offset + sent) else {
                break;
            };
            let want = (count - sent).min(STEP) as usize;
            match nix::sys::sendfile::sendfile(out, file, Some(&mut pos), want) {
                Ok(0) => return Ok(sent),
                Ok(n) => sent += n as u64,
                Err(Errno::EINTR) => {}
                // Sistema de ficheros sin `sendfile`: seguimos con la copia normal.
                Err(Errno::EINVAL | Errno::ENOSYS) if sent == 0 => break,
                Err(e) => return Err(e.into()),
            }
        }
        if sent == count {
            return Ok(sent);
        }
    }
    copy_at(file, offset + sent, count - sent, out).map(|n| sent + n)
}

/// El socket "taponado" (`TCP_CORK` en Linux) mientras vive: lo que se escribe se junta en
/// segmentos llenos en vez de salir en cuanto llega, y al soltarlo sale el resto. Es lo que
/// hace nginx con `tcp_nopush on` alrededor de `sendfile`: la cabecera viaja con el principio
/// del fichero y el fichero en segmentos de tamaño máximo. Con `TCP_NODELAY` y sin tapón,
/// `sendfile` empuja un segmento a medio llenar al final de cada tramo interno: en loopback,
/// una descarga de 1 GiB pasaba de unos 25 000 segmentos (nginx) a 43 000 (nosotros) y el
/// receptor gastaba más CPU en cada uno.
///
/// Donde no existe `TCP_CORK` no hace nada. Si no se puede poner, tampoco: es una
/// optimización, no cambia los bytes.
pub struct Cork<'a> {
    stream: &'a TcpStream,
    corked: bool,
}

impl<'a> Cork<'a> {
    /// Tapona `stream` hasta que se suelte el valor devuelto.
    pub fn new(stream: &'a TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        let corked = socket2::SockRef::from(stream).set_cork(true).is_ok();
        #[cfg(not(target_os = "linux"))]
        let corked = false;
        Cork { stream, corked }
    }
}

impl Drop for Cork<'_> {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.corked {
            // Quitar el tapón envía enseguida lo que quedara pendiente.
            let _ = socket2::SockRef::from(self.stream).set_cork(false);
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (self.stream, self.corked);
    }
}

/// Copia de reserva con `read_at` (sin mover la posición del fichero) y un buffer fijo.
fn copy_at(file: &File, offset: u64, count: u64, mut out: &TcpStream) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; FALLBACK_BUFFER.min(count as usize)];
    let mut done = 0u64;
    while done < count {
        let want = ((count - done) as usize).min(buf.len());
        let slot = buf.get_mut(..want).unwrap_or_default();
        let n = match file.read_at(slot, offset + done) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(buf.get(..n).unwrap_or_default())?;
        done += n as u64;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn receive(len_hint: usize, f: impl FnOnce(&TcpStream) + Send) -> Vec<u8> {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut v = Vec::with_capacity(len_hint);
                c.read_to_end(&mut v).unwrap();
                v
            });
            let out = TcpStream::connect(addr).unwrap();
            f(&out);
            drop(out);
            reader.join().unwrap()
        })
    }

    fn temp_file(data: &[u8]) -> File {
        let path = std::env::temp_dir().join(format!(
            "common-sendfile-{}-{}",
            std::process::id(),
            data.len()
        ));
        std::fs::write(&path, data).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }

    #[test]
    fn sends_exactly_the_requested_range() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let file = temp_file(&data);
        let got = receive(data.len(), |out| {
            assert_eq!(send_file(&file, 1000, 2_000_000, out).unwrap(), 2_000_000);
        });
        assert_eq!(got, &data[1000..2_001_000]);
    }

    /// Con el tapón puesto, los bytes llegan iguales; al soltarlo sale lo pendiente (un
    /// resto menor que un segmento no se queda retenido los 200 ms del tapón).
    #[test]
    fn corked_sends_arrive_whole_and_the_tail_leaves_on_release() {
        let data: Vec<u8> = (0..300_001u32).map(|i| (i % 249) as u8).collect();
        let file = temp_file(&data);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let out = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut peer, _) = l.accept().unwrap();
        {
            let cork = Cork::new(&out);
            #[cfg(target_os = "linux")]
            assert!(cork.corked, "no se pudo poner TCP_CORK");
            (&out).write_all(b"cabecera\r\n\r\n").unwrap();
            assert_eq!(
                send_file(&file, 0, data.len() as u64, &out).unwrap(),
                300_001
            );
            (&out).write_all(b"!").unwrap();
        }
        #[cfg(target_os = "linux")]
        assert!(!socket2::SockRef::from(&out).cork().unwrap());
        // La conexión sigue abierta: el último byte tiene que llegar por haber quitado el
        // tapón, no por el cierre.
        let mut got = vec![0u8; 12 + data.len() + 1];
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        peer.read_exact(&mut got).unwrap();
        assert_eq!(&got[..12], b"cabecera\r\n\r\n");
        assert_eq!(&got[12..12 + data.len()], &data[..]);
        assert_eq!(got.last(), Some(&b'!'));
        drop(out);
    }

    #[test]
    fn a_short_file_returns_what_it_had_and_fallback_matches() {
        let data = vec![7u8; 5000];
        let file = temp_file(&data);
        let got = receive(5000, |out| {
            assert_eq!(send_file(&file, 4000, 10_000, out).unwrap(), 1000);
        });
        assert_eq!(got, vec![7u8; 1000]);
        let got = receive(5000, |out| {
            assert_eq!(copy_at(&file, 10, 4990, out).unwrap(), 4990);
        });
        assert_eq!(got, vec![7u8; 4990]);
    }
}
