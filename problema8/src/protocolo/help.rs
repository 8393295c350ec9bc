//! El texto de `HELP`: una línea por orden.

/// Las líneas de `HELP`, en el orden en que se envían (cada una como `INFO`).
pub const HELP_LINES: [&str; 11] = [
    "NAME <nombre> [token]  elegir nombre (con el token de HELLO, volver a una partida)",
    "PLAY                   entrar en la cola de emparejamiento",
    "PLAY CPU               jugar contra la máquina (juega perfecto)",
    "PLAY <código>          partida privada con quien escriba el mismo código",
    "MOVE <1-9>             poner ficha: 1 2 3 arriba, 4 5 6 en medio, 7 8 9 abajo",
    "LIST                   partidas en curso",
    "WATCH <id>             mirar una partida",
    "LEAVE                  salir de la cola, de la partida (pierde si sigue) o de mirar",
    "REMATCH                pedir la revancha al terminar",
    "SCORES                 clasificación (ganadas, tablas, perdidas)",
    "QUIT                   despedirse y cerrar",
];
