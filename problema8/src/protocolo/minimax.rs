//! El rival perfecto: minimax con poda alfa-beta sobre el tablero.

use super::{Board, Mark, Outcome};

/// La mejor jugada para `me` (minimax con poda alfa-beta): gana lo antes posible, pierde lo
/// más tarde posible, y entre jugadas iguales elige la de número más bajo, así que es
/// determinista. `None` si la partida ya terminó.
///
/// ```
/// use problema8::protocolo::{best_move, Board, Mark};
/// // X tiene 1 y 2: O debe tapar la 3.
/// assert_eq!(best_move(&Board::parse("XX..O....").unwrap(), Mark::O), Some(3));
/// ```
pub fn best_move(board: &Board, me: Mark) -> Option<u8> {
    if board.outcome().is_some() {
        return None;
    }
    let mut best: Option<(i32, u8)> = None;
    let mut alpha = i32::MIN + 1;
    for cell in board.free_cells() {
        let mut next = *board;
        if next.place(cell, me).is_err() {
            continue;
        }
        let score = -negamax(&next, me.other(), 1, -i32::MAX, -alpha);
        if best.map_or(true, |(s, _)| score > s) {
            best = Some((score, cell));
        }
        alpha = alpha.max(score);
    }
    best.map(|(_, cell)| cell)
}

/// Valor de la posición para `to_move`: positivo si gana, cuanto antes mejor.
fn negamax(board: &Board, to_move: Mark, depth: i32, mut alpha: i32, beta: i32) -> i32 {
    match board.outcome() {
        // Quien acaba de mover ganó: para `to_move` es una derrota.
        Some(Outcome::Win { .. }) => return depth - 10,
        Some(Outcome::Draw) => return 0,
        None => {}
    }
    let mut best = -i32::MAX;
    for cell in board.free_cells() {
        let mut next = *board;
        if next.place(cell, to_move).is_err() {
            continue;
        }
        let score = -negamax(&next, to_move.other(), depth + 1, -beta, -alpha);
        best = best.max(score);
        alpha = alpha.max(score);
        if alpha >= beta {
            break;
        }
    }
    best
}
