//! Problema 9: varios servidores que se coordinan. Un balanceador TCP reparte a los clientes
//! entre nodos que se registran en él y pasan comprobaciones de salud; detrás, los nodos
//! forman un almacén clave-valor replicado que habla el protocolo de Redis (RESP2).
//!
//! El protocolo en cinco líneas: el cliente envía órdenes RESP (`SET a 1`, `GET a`) al
//! balanceador (8009), que las reenvía byte a byte a un nodo sano; el nodo que la recibe
//! coordina con las reglas de un registro ABD, así que cada clave es linealizable: una
//! escritura consulta la versión de una mayoría y guarda una mayor en una mayoría; una lectura
//! pregunta a una mayoría y, si las versiones difieren, reescribe la más alta en una mayoría
//! antes de responder. Entre nodos viajan mensajes JSON, uno por línea (`write`, `read`,
//! `digest`, `pull`).
//!
//! Dónde mirar: el análisis de RESP está en [`resp`]; el nodo (almacén, registro en disco,
//! replicación, puesta al día y servidor RESP) en [`nodo`]; el balanceador en `balanceador`
//! y el registro de nodos en `registro`; el cliente en [`cliente`] y la demostración en una
//! sola terminal (el balanceador y los nodos como procesos hijos) en [`demo`].

pub mod balanceador;
pub mod registro;

pub mod cliente;
pub mod demo;
pub mod nodo;
pub mod resp;

pub use nodo::{run as run_node, NodeArgs, NodeConfig, NodeError};
