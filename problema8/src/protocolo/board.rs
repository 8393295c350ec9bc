//! Fichas, tablero, jugadas y resultado de una partida.

use std::fmt;

use super::ProtocolError;

/// Las ocho líneas ganadoras (filas, columnas y diagonales), en casillas 1..=9.
pub const LINES: [[u8; 3]; 8] = [
    [1, 2, 3],
    [4, 5, 6],
    [7, 8, 9],
    [1, 4, 7],
    [2, 5, 8],
    [3, 6, 9],
    [1, 5, 9],
    [3, 5, 7],
];

/// La ficha de un jugador. `X` empieza siempre.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// Quien abre la partida.
    X,
    /// Quien juega segundo.
    O,
}

impl Mark {
    /// La ficha del rival.
    pub fn other(self) -> Mark {
        match self {
            Mark::X => Mark::O,
            Mark::O => Mark::X,
        }
    }

    /// Posición en un par `[X, O]`.
    pub fn index(self) -> usize {
        match self {
            Mark::X => 0,
            Mark::O => 1,
        }
    }

    /// El carácter con que viaja (`X` u `O`).
    pub fn as_char(self) -> char {
        match self {
            Mark::X => 'X',
            Mark::O => 'O',
        }
    }

    pub(super) fn parse(s: &str) -> Result<Mark, ProtocolError> {
        match s {
            "X" => Ok(Mark::X),
            "O" => Ok(Mark::O),
            _ => Err(ProtocolError::BadMessage(format!("ficha no válida: {s}"))),
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// Por qué se rechaza una jugada que sí se entendió.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    /// La casilla no está entre 1 y 9.
    #[error("la casilla {0} no existe: elija un número del 1 al 9")]
    OutOfRange(u8),
    /// La casilla ya tiene ficha.
    #[error("la casilla {0} ya está ocupada")]
    Occupied(u8),
}

/// El resultado de una partida terminada en el tablero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `mark` completó la línea `line`.
    Win {
        /// La ficha ganadora.
        mark: Mark,
        /// Las tres casillas de la línea.
        line: [u8; 3],
    },
    /// Tablero lleno sin línea.
    Draw,
}

/// El tablero: nueve casillas, vacías o con ficha.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Board {
    cells: [Option<Mark>; 9],
}

impl Board {
    /// Tablero vacío.
    pub fn new() -> Self {
        Self::default()
    }

    /// La ficha de la casilla `cell` (1..=9); `None` si está vacía o no existe.
    pub fn get(&self, cell: u8) -> Option<Mark> {
        let i = usize::from(cell).checked_sub(1)?;
        self.cells.get(i).copied().flatten()
    }

    /// Pone `mark` en `cell`.
    ///
    /// # Errores
    /// [`MoveError::OutOfRange`] fuera de 1..=9; [`MoveError::Occupied`] si ya hay ficha.
    /// El turno lo vigila quien llama (la partida), no el tablero.
    pub fn place(&mut self, cell: u8, mark: Mark) -> Result<(), MoveError> {
        let slot = usize::from(cell)
            .checked_sub(1)
            .and_then(|i| self.cells.get_mut(i))
            .ok_or(MoveError::OutOfRange(cell))?;
        if slot.is_some() {
            return Err(MoveError::Occupied(cell));
        }
        *slot = Some(mark);
        Ok(())
    }

    /// Casillas libres, en orden.
    pub fn free_cells(&self) -> Vec<u8> {
        (1..=9u8).filter(|&c| self.get(c).is_none()).collect()
    }

    /// Fichas puestas hasta ahora.
    pub fn count(&self) -> usize {
        self.cells.iter().filter(|c| c.is_some()).count()
    }

    /// A quién le toca según las fichas puestas (`X` empieza).
    pub fn next_mark(&self) -> Mark {
        if self.count() % 2 == 0 {
            Mark::X
        } else {
            Mark::O
        }
    }

    /// `Some` si la partida terminó en el tablero (línea completa o tablero lleno).
    ///
    /// ```
    /// use problema8::protocolo::{Board, Mark, Outcome};
    /// let b = Board::parse("XXXOO....").unwrap();
    /// assert_eq!(b.outcome(), Some(Outcome::Win { mark: Mark::X, line: [1, 2, 3] }));
    /// assert_eq!(Board::parse("XOXXOOOXX").unwrap().outcome(), Some(Outcome::Draw));
    /// assert_eq!(Board::new().outcome(), None);
    /// ```
    pub fn outcome(&self) -> Option<Outcome> {
        for line in LINES {
            let [a, b, c] = line;
            if let Some(mark) = self.get(a) {
                if self.get(b) == Some(mark) && self.get(c) == Some(mark) {
                    return Some(Outcome::Win { mark, line });
                }
            }
        }
        if self.count() == 9 {
            Some(Outcome::Draw)
        } else {
            None
        }
    }

    /// Lee el tablero de 9 caracteres (`X`, `O`, `.`).
    ///
    /// # Errores
    /// [`ProtocolError::BadMessage`] si no son 9 caracteres válidos.
    pub fn parse(s: &str) -> Result<Board, ProtocolError> {
        let bytes = s.as_bytes();
        if bytes.len() != 9 {
            return Err(ProtocolError::BadMessage(format!(
                "el tablero debe tener 9 casillas: {s}"
            )));
        }
        let mut board = Board::new();
        for (slot, &b) in board.cells.iter_mut().zip(bytes) {
            *slot = match b {
                b'X' => Some(Mark::X),
                b'O' => Some(Mark::O),
                b'.' => None,
                _ => {
                    return Err(ProtocolError::BadMessage(format!(
                        "casilla no válida en el tablero: {s}"
                    )))
                }
            };
        }
        Ok(board)
    }
}

impl fmt::Display for Board {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.cells {
            write!(f, "{}", c.map_or('.', Mark::as_char))?;
        }
        Ok(())
    }
}
