//! `servidor demo` (o `servidor` sin orden): el balanceador y tres nodos del almacén en una
//! sola terminal, para ver la tolerancia a fallos sin abrir más.
//!
//! El balanceador corre en este proceso (8009 para clientes, 8019 de control, comprobación
//! `ping`); cada nodo es un proceso hijo (`servidor nodo ...`, el mismo ejecutable) en
//! puertos libres, con pares fijos y registrado en el balanceador. Cada uno escribe su
//! registro en un fichero (`n1.log`..., `balanceador.log`, en el directorio que dicen las
//! primeras líneas o `--logs`), así la terminal queda para unas pocas líneas y las órdenes:
//!
//! - `stop nK` mata el nodo (SIGKILL, como si muriera): no se da de baja, y el balanceador lo
//!   ve caído (`down`) cuando falla sus comprobaciones de salud.
//! - `apaga nK` lo apaga limpio (SIGTERM): se da de baja y desaparece de la tabla.
//! - `start nK` lo vuelve a arrancar en los mismos puertos y con sus datos (se pone al día
//!   antes de volver a recibir clientes).
//! - `status` muestra la tabla del balanceador y la de los nodos; `help`, las órdenes;
//!   `quit` (o Ctrl-C) apaga todo.
//!
//! Las órdenes llegan por la entrada estándar, sea una terminal o una tubería (así la prueban
//! las pruebas). Si la entrada se acaba, la demostración sigue hasta Ctrl-C o SIGTERM.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use common::ayuda::plural;
use common::net::{connectable, describe_io_error};
use common::Shutdown;

use crate::balanceador::{self, BalancerArgs, BalancerConfig, CheckKind};
use crate::nodo::wal::FsyncPolicy;
use crate::registro::{self, BackendState};

/// Nodos por omisión de la demostración.
pub const DEFAULT_DEMO_NODES: usize = 3;
/// Máximo de nodos de la demostración (cada uno es un proceso con varios hilos).
pub const MAX_DEMO_NODES: usize = 9;
/// Cuánto se espera a que un nodo recién arrancado esté `up` en el balanceador, o a que uno
/// muerto se vea `down`: sobra para ponerse al día con los datos de una demostración.
pub const STATE_TIMEOUT: Duration = Duration::from_secs(20);
/// Cuánto tiene un nodo para apagarse limpio tras SIGTERM antes de matarlo.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Cada cuánto se mira si llegó una orden o si un nodo terminó por su cuenta.
const TICK: Duration = Duration::from_millis(200);

/// Los argumentos de `servidor demo`.
#[derive(clap::Args, Debug, Clone)]
pub struct DemoArgs {
    /// Los del balanceador (puertos 8009 y 8019 por omisión)
    #[command(flatten)]
    pub balancer: BalancerArgs,
    /// Cuántos nodos arrancar (1 a 9)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DEMO_NODES)]
    pub nodes: usize,
    /// Directorio de datos (uno por nodo dentro); por omisión uno temporal que se borra al salir
    #[arg(long, value_name = "DIRECTORIO")]
    pub data_dir: Option<PathBuf>,
    /// Directorio de los registros (n1.log..., balanceador.log); por omisión el de datos
    #[arg(long, value_name = "DIRECTORIO")]
    pub logs: Option<PathBuf>,
    /// Política de fsync de los nodos
    #[arg(long, value_name = "POLÍTICA", value_enum, default_value_t = FsyncPolicy::Always)]
    pub fsync: FsyncPolicy,
}

/// La configuración de la demostración.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Nodos.
    pub nodes: usize,
    /// Directorio base de datos (uno por nodo dentro).
    pub data_dir: PathBuf,
    /// ¿Es temporal? Entonces se borra al salir.
    pub temporary_data: bool,
    /// Directorio de los registros.
    pub log_dir: PathBuf,
    /// Política de fsync.
    pub fsync: FsyncPolicy,
    /// Configuración del balanceador.
    pub balancer: BalancerConfig,
    /// Host donde escuchan los nodos.
    pub host: String,
    /// El ejecutable que arranca los nodos (`PROGRAMA nodo --id n1 ...`).
    pub program: PathBuf,
    /// ¿Mostrar `> ` antes de cada orden? (sí en una terminal, no en una tubería).
    pub prompt: bool,
}

impl DemoArgs {
    /// La configuración que describen los argumentos (la comprobación de salud es siempre
    /// `ping`: un nodo que se está poniendo al día no recibe clientes). Sin `--data-dir`, los
    /// datos van a `problema9-demo-PID` en el directorio temporal; sin `--logs`, los registros
    /// van al directorio de datos.
    pub fn config(&self) -> DemoConfig {
        let mut balancer = self.balancer.config();
        balancer.check = CheckKind::Ping;
        balancer.check_interval = balancer.check_interval.min(Duration::from_millis(500));
        let scratch = std::env::temp_dir().join(format!("problema9-demo-{}", std::process::id()));
        let data_dir = self.data_dir.clone().unwrap_or(scratch);
        DemoConfig {
            nodes: self.nodes.clamp(1, MAX_DEMO_NODES),
            log_dir: self.logs.clone().unwrap_or_else(|| data_dir.clone()),
            data_dir,
            temporary_data: self.data_dir.is_none(),
            fsync: self.fsync,
            balancer,
            host: self.balancer.server.host.clone(),
            program: this_program(),
            prompt: false,
        }
    }
}

/// Este mismo ejecutable, para lanzar los nodos. En Linux, `/proc/self/exe`: sigue siendo
/// este programa aunque `cargo build` de otro problema haya reemplazado
/// `target/debug/servidor` mientras la demostración corre (cargo issue 6313).
pub fn this_program() -> PathBuf {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe;
    }
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("servidor"))
}

/// Envía el registro de este proceso (el del balanceador) al fichero `path`, añadiendo al
/// final, con el mismo formato y nivel (`RUST_LOG`) que [`common::init_logging`].
///
/// # Errores
/// Si no se puede crear el fichero o su directorio.
pub fn log_to_file(path: &Path) -> Result<(), DemoError> {
    let file = open_log(path)?;
    let env = env_logger::Env::default().default_filter_or("info");
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .target(env_logger::Target::Pipe(Box::new(file)))
        .try_init();
    Ok(())
}

/// Lo que puede impedir la demostración.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Fallo al abrir puertos, ficheros o directorios, o al crear hilos.
    #[error("{doing}: {reason}")]
    Io {
        /// Qué se estaba haciendo.
        doing: String,
        /// El motivo, en español.
        reason: String,
    },
    /// Un nodo no llegó a estar en marcha.
    #[error("el nodo {id} no arrancó: {reason}; su registro está en {log}")]
    Node {
        /// El nodo.
        id: String,
        /// Qué pasó.
        reason: String,
        /// Su fichero de registro.
        log: String,
    },
}

impl DemoError {
    fn io(doing: impl Into<String>) -> impl FnOnce(io::Error) -> DemoError {
        let doing = doing.into();
        move |e| DemoError::Io {
            doing,
            reason: describe_io_error(&e),
        }
    }
}

fn open_log(path: &Path) -> Result<File, DemoError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(DemoError::io(format!(
            "no se puede crear {}",
            dir.display()
        )))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(DemoError::io(format!(
            "no se puede abrir {}",
            path.display()
        )))
}

/// Un nodo de la demostración: un proceso hijo con sus puertos, sus datos y su registro
/// fijos, para poder matarlo y volver a arrancarlo en el mismo sitio.
struct DemoNode {
    id: String,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    log: PathBuf,
    /// Los argumentos de `servidor` para este nodo (`nodo --id n1 ...`).
    args: Vec<OsString>,
    child: Option<Child>,
}

impl DemoNode {
    /// Lanza el proceso, con la salida y los errores en su fichero de registro.
    fn spawn(&mut self, program: &Path) -> Result<u32, DemoError> {
        let log = open_log(&self.log)?;
        let stderr = log.try_clone().map_err(DemoError::io(format!(
            "no se puede abrir {}",
            self.log.display()
        )))?;
        let child = Command::new(program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(DemoError::io(format!(
                "no se pudo lanzar el nodo {} ({})",
                self.id,
                program.display()
            )))?;
        let pid = child.id();
        self.child = Some(child);
        Ok(pid)
    }

    /// Lo mata sin avisar (SIGKILL) y recoge su estado; `None` si no estaba en marcha.
    fn kill(&mut self) -> Option<u32> {
        let mut child = self.child.take()?;
        let pid = child.id();
        let _ = child.kill();
        let _ = child.wait();
        Some(pid)
    }

    /// Le pide que se apague (SIGTERM), sin esperar.
    fn ask_to_stop(&self) {
        if let Some(child) = &self.child {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }

    /// Espera a que termine hasta `deadline`; si no, lo mata. `None` si no estaba en marcha.
    fn wait_or_kill(&mut self, deadline: Instant) -> Option<(u32, bool)> {
        let child = self.child.as_mut()?;
        let pid = child.id();
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return Some((pid, true));
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.kill().map(|pid| (pid, false))
    }

    /// Si el proceso terminó por su cuenta, su estado (y deja de contar como en marcha).
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }
}

/// Cómo terminó un proceso, en español (el `Display` de `ExitStatus` está en inglés).
fn describe_exit(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("código de salida {code}"),
        (None, Some(signal)) => format!("señal {signal}"),
        (None, None) => "sin código de salida".to_string(),
    }
}

/// Reserva un puerto libre en `host`: se abre en el puerto 0 y se cierra; el nodo lo abrirá
/// de nuevo (los listeners de std usan `SO_REUSEADDR`).
fn free_port(host: &str) -> Result<SocketAddr, DemoError> {
    TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(connectable)
        .map_err(DemoError::io(format!(
            "no se pudo abrir un puerto en {host}"
        )))
}

/// El estado de `id` en la tabla del balanceador (`None`: no está o no respondió).
fn state_of(control: &str, id: &str) -> Option<BackendState> {
    registro::status(control, Duration::from_secs(2))
        .ok()?
        .into_iter()
        .find(|b| b.id == id)
        .map(|b| b.state)
}

/// Espera hasta [`STATE_TIMEOUT`] a que se cumpla `done`, mirando cada 100 ms.
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + STATE_TIMEOUT;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// ¿Está el nodo listo para clientes? `up` en el balanceador y al día según su `INFO`.
fn is_ready(control: &str, node: &DemoNode) -> bool {
    state_of(control, &node.id) == Some(BackendState::Up)
        && crate::cliente::node_info(&node.client_addr.to_string(), Duration::from_secs(2))
            .is_ok_and(|info| info.caught_up)
}

const HELP: &str = "órdenes:
  status     la tabla del balanceador y la de los nodos
  stop nK    mata el nodo nK (SIGKILL, como si muriera): el balanceador lo verá caído (down)
  apaga nK   apaga nK limpio (SIGTERM): se da de baja en el balanceador
  start nK   vuelve a arrancar nK con sus datos; se pone al día antes de recibir clientes
  help       esta ayuda
  quit       apaga todo y termina (también Ctrl-C)";

/// Arranca el balanceador (con los listeners dados) y `config.nodes` nodos como procesos
/// hijos, escribe en `out` dónde escucha cada cosa y dónde están los registros, y atiende las
/// órdenes de `input` hasta `quit` o hasta que se dispare `shutdown`. Al salir apaga los
/// nodos (SIGTERM, y SIGKILL al que no termine en [`STOP_GRACE`]) y el balanceador.
///
/// # Errores
/// [`DemoError`] si no se pueden abrir los puertos de los nodos, sus directorios o sus
/// registros, o si un nodo no llega a estar `up` en [`STATE_TIMEOUT`]. Un fallo al escribir
/// en `out` se trata como `quit`.
pub fn run(
    clients: TcpListener,
    control: TcpListener,
    config: DemoConfig,
    shutdown: Shutdown,
    input: impl BufRead + Send + 'static,
    mut out: impl Write,
) -> Result<(), DemoError> {
    let local = |l: &TcpListener| {
        l.local_addr().map(connectable).map_err(DemoError::io(
            "no se pudo leer la dirección del balanceador",
        ))
    };
    let client_addr = local(&clients)?;
    let control_addr = local(&control)?;
    let control_str = control_addr.to_string();
    let balancer = {
        let s = shutdown.clone();
        let cfg = config.balancer.clone();
        thread::Builder::new()
            .name("demo-balanceador".into())
            .spawn(move || {
                if let Err(e) = balanceador::run(clients, control, cfg, s) {
                    log::error!("balanceador: {e}");
                }
            })
            .map_err(DemoError::io("no se pudo crear el hilo del balanceador"))?
    };
    let mut nodes = plan_nodes(&config, control_addr)?;
    // Desde aquí, pase lo que pase, los hijos se apagan antes de volver.
    let result = serve(
        &config,
        &mut nodes,
        (client_addr, &control_str),
        &shutdown,
        input,
        &mut out,
    );
    // Con Ctrl-C en la terminal, la señal llega también a los nodos (el mismo grupo de
    // procesos) y ya se están apagando: una segunda señal les haría salir sin más.
    let signalled = shutdown.is_triggered();
    let stopped = stop_all(&mut nodes, signalled);
    shutdown.trigger();
    let _ = balancer.join();
    if config.temporary_data {
        for n in &nodes {
            let _ = std::fs::remove_dir_all(config.data_dir.join(&n.id));
        }
        let _ = std::fs::remove_dir(&config.data_dir);
    }
    let _ = writeln!(
        out,
        "{} apagados; los registros quedan en {}",
        plural(stopped, "nodo", "nodos"),
        config.log_dir.display()
    );
    let _ = out.flush();
    result
}

/// Elige los puertos de cada nodo y prepara sus argumentos (todavía no los lanza).
fn plan_nodes(config: &DemoConfig, control: SocketAddr) -> Result<Vec<DemoNode>, DemoError> {
    let addrs: Vec<(SocketAddr, SocketAddr)> = (0..config.nodes)
        .map(|_| Ok((free_port(&config.host)?, free_port(&config.host)?)))
        .collect::<Result<_, DemoError>>()?;
    let fsync = config
        .fsync
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_else(|| "always".to_string());
    let mut nodes = Vec::new();
    for (i, &(client_addr, peer_addr)) in addrs.iter().enumerate() {
        let id = format!("n{}", i + 1);
        let mut args: Vec<OsString> = vec![
            "nodo".into(),
            "--id".into(),
            id.clone().into(),
            "--host".into(),
            config.host.clone().into(),
            "--port".into(),
            client_addr.port().to_string().into(),
            "--peer-port".into(),
            peer_addr.port().to_string().into(),
            "--balancer".into(),
            control.to_string().into(),
            "--cluster-size".into(),
            config.nodes.to_string().into(),
            "--fsync".into(),
            fsync.clone().into(),
            "--data-dir".into(),
            config.data_dir.join(&id).into_os_string(),
        ];
        for (j, (_, peer)) in addrs.iter().enumerate() {
            if j != i {
                args.push("--peer".into());
                args.push(peer.to_string().into());
            }
        }
        nodes.push(DemoNode {
            log: config.log_dir.join(format!("{id}.log")),
            id,
            client_addr,
            peer_addr,
            args,
            child: None,
        });
    }
    Ok(nodes)
}

/// Apaga todos los nodos en marcha a la vez (SIGTERM, y SIGKILL a los que no terminen en
/// [`STOP_GRACE`]); devuelve cuántos había. Con `signalled` (la demostración recibió una
/// señal, que con Ctrl-C reciben también los nodos) primero se les da un segundo para
/// terminar solos, y el SIGTERM va solo a los que sigan.
fn stop_all(nodes: &mut [DemoNode], signalled: bool) -> usize {
    let running = nodes.iter().filter(|n| n.child.is_some()).count();
    if signalled {
        let on_their_own = Instant::now() + Duration::from_secs(1);
        while nodes
            .iter_mut()
            .any(|n| n.exited().is_none() && n.child.is_some())
            && Instant::now() < on_their_own
        {
            thread::sleep(Duration::from_millis(20));
        }
    }
    for n in nodes.iter() {
        n.ask_to_stop();
    }
    let deadline = Instant::now() + STOP_GRACE;
    for n in nodes.iter_mut() {
        n.wait_or_kill(deadline);
    }
    running
}

/// Lanza los nodos, escribe las primeras líneas y atiende las órdenes.
fn serve(
    config: &DemoConfig,
    nodes: &mut [DemoNode],
    (client_addr, control): (SocketAddr, &str),
    shutdown: &Shutdown,
    input: impl BufRead + Send + 'static,
    out: &mut impl Write,
) -> Result<(), DemoError> {
    let write_err = DemoError::io("no se pudo escribir en la salida estándar");
    let mut banner = format!(
        "balanceador: escuchando en {client_addr}\ncontrol: escuchando en {control}\n\
         registros en {} (balanceador.log y uno por nodo); datos en {}{}\n",
        config.log_dir.display(),
        config.data_dir.display(),
        if config.temporary_data {
            " (temporales: se borran al salir)"
        } else {
            ""
        }
    );
    for n in nodes.iter_mut() {
        let pid = n.spawn(&config.program)?;
        banner.push_str(&format!(
            "nodo {}: pid {pid}, escuchando en {} (pares en {})\n",
            n.id, n.client_addr, n.peer_addr
        ));
    }
    out.write_all(banner.as_bytes())
        .and_then(|()| out.flush())
        .map_err(write_err)?;
    for n in nodes.iter_mut() {
        // Un nodo que no pudo arrancar (un puerto que otro ocupó a tiempo) termina enseguida:
        // no hace falta esperar todo el plazo para decirlo.
        let mut ended = None;
        if !wait_for(|| {
            ended = n.exited();
            ended.is_some() || is_ready(control, n)
        }) || ended.is_some()
        {
            let reason = match ended.or_else(|| n.exited()) {
                Some(status) => format!("terminó ({})", describe_exit(status)),
                None => format!(
                    "no está al día y `up` en el balanceador tras {} s",
                    STATE_TIMEOUT.as_secs()
                ),
            };
            return Err(DemoError::Node {
                id: n.id.clone(),
                reason,
                log: n.log.display().to_string(),
            });
        }
    }
    let ready = format!(
        "{} en marcha; pruebe en otra terminal: cargo run -p problema9 --bin cliente -- --port {} set clave valor\n{HELP}\n",
        plural(nodes.len(), "nodo", "nodos"),
        client_addr.port()
    );
    let mut say = |text: &str, prompt: bool| -> io::Result<()> {
        out.write_all(text.as_bytes())?;
        if !text.is_empty() && !text.ends_with('\n') {
            out.write_all(b"\n")?;
        }
        if prompt {
            out.write_all(b"> ")?;
        }
        out.flush()
    };
    if say(&ready, config.prompt).is_err() {
        return Ok(());
    }

    let (tx, rx) = mpsc::channel::<String>();
    // El hilo lector no se une: puede quedarse bloqueado leyendo la entrada estándar.
    let _ = thread::Builder::new()
        .name("demo-entrada".into())
        .spawn(move || {
            for line in input.lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    let mut input_open = true;
    while !shutdown.is_triggered() {
        // Un nodo que termina por su cuenta (un fallo, o un `kill` desde otra terminal).
        for n in nodes.iter_mut() {
            if let Some(status) = n.exited() {
                let text = format!(
                    "el nodo {} terminó por su cuenta ({}); mire {}",
                    n.id,
                    describe_exit(status),
                    n.log.display()
                );
                if say(&text, config.prompt).is_err() {
                    return Ok(());
                }
            }
        }
        let line = if input_open {
            match rx.recv_timeout(TICK) {
                Ok(l) => l,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    input_open = false;
                    continue;
                }
            }
        } else {
            shutdown.wait_timeout(TICK);
            continue;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if matches!(words.as_slice(), ["quit"] | ["exit"] | ["salir"]) {
            return Ok(());
        }
        let reply = command(&words, nodes, config, control);
        if say(&reply, config.prompt).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Atiende una orden y devuelve lo que se muestra.
fn command(words: &[&str], nodes: &mut [DemoNode], config: &DemoConfig, control: &str) -> String {
    let node = |id: &str, nodes: &mut [DemoNode]| nodes.iter().position(|n| n.id == id);
    match words {
        [] => String::new(),
        ["status"] => match crate::cliente::status(control, Duration::from_secs(2)) {
            Ok(t) => t,
            Err(e) => e.to_string(),
        },
        ["help"] | ["ayuda"] => HELP.to_string(),
        [verb @ ("stop" | "apaga" | "start"), id] => {
            let Some(n) = node(id, nodes).and_then(|i| nodes.get_mut(i)) else {
                let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
                return format!("no hay nodo {id}; los nodos son {}", ids.join(", "));
            };
            match *verb {
                "stop" => match n.kill() {
                    Some(pid) => {
                        let seen = wait_for(|| state_of(control, id) != Some(BackendState::Up));
                        format!(
                            "nodo {id} muerto (SIGKILL al pid {pid}); {}",
                            if seen {
                                "el balanceador ya lo ve caído: `status` lo muestra down"
                            } else {
                                "el balanceador aún no lo ve caído"
                            }
                        )
                    }
                    None => format!("el nodo {id} ya estaba parado"),
                },
                "apaga" => {
                    n.ask_to_stop();
                    match n.wait_or_kill(Instant::now() + STOP_GRACE) {
                        Some((pid, true)) => {
                            format!(
                                "nodo {id} apagado (pid {pid}): se dio de baja en el balanceador"
                            )
                        }
                        Some((pid, false)) => format!(
                            "el nodo {id} no se apagó en {} s: muerto (SIGKILL al pid {pid})",
                            STOP_GRACE.as_secs()
                        ),
                        None => format!("el nodo {id} ya estaba parado"),
                    }
                }
                _ if n.child.is_some() => format!("el nodo {id} ya está en marcha"),
                _ => match n.spawn(&config.program) {
                    Ok(pid) => {
                        let up = wait_for(|| is_ready(control, n));
                        format!(
                            "nodo {id} arrancado (pid {pid}) en {}; {}",
                            n.client_addr,
                            if up {
                                "al día y recibiendo clientes"
                            } else {
                                "aún poniéndose al día"
                            }
                        )
                    }
                    Err(e) => e.to_string(),
                },
            }
        }
        _ => format!(
            "orden desconocida «{}»; `help` las muestra",
            words.join(" ")
        ),
    }
}
