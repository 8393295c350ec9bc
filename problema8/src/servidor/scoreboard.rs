//! La clasificación: ganadas, tablas y perdidas por nombre mientras el servidor vive.
//!
//! Su cerrojo es una hoja del orden de cerrojos (véase `servidor`): se toma con el de una
//! partida ya tomado, al anunciar el resultado, para que quien recibe `WIN` y pide `SCORES`
//! vea ya la partida contada. Nunca se toma otro cerrojo con este en la mano.

use std::collections::HashMap;
use std::sync::Mutex;

use common::lock;

/// Lo acumulado por un nombre.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Score {
    /// Victorias.
    pub wins: u64,
    /// Tablas.
    pub draws: u64,
    /// Derrotas.
    pub losses: u64,
}

/// La clasificación compartida.
#[derive(Debug, Default)]
pub struct Scoreboard {
    scores: Mutex<HashMap<String, Score>>,
}

impl Scoreboard {
    /// Anota una victoria de `winner` sobre `loser`.
    pub fn record_win(&self, winner: &str, loser: &str) {
        let mut scores = lock(&self.scores);
        scores.entry(winner.to_string()).or_default().wins += 1;
        scores.entry(loser.to_string()).or_default().losses += 1;
    }

    /// Anota unas tablas entre `a` y `b`.
    pub fn record_draw(&self, a: &str, b: &str) {
        let mut scores = lock(&self.scores);
        scores.entry(a.to_string()).or_default().draws += 1;
        scores.entry(b.to_string()).or_default().draws += 1;
    }

    /// Copia de la clasificación, de más a menos victorias (y por nombre si empatan).
    pub fn snapshot(&self) -> Vec<(String, Score)> {
        let mut rows: Vec<(String, Score)> = lock(&self.scores)
            .iter()
            .map(|(n, s)| (n.clone(), *s))
            .collect();
        rows.sort_by(|a, b| b.1.wins.cmp(&a.1.wins).then_with(|| a.0.cmp(&b.0)));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_counted_for_both_players_and_sorted_by_wins() {
        let s = Scoreboard::default();
        s.record_win("bea", "ana");
        s.record_win("bea", "ana");
        s.record_draw("ana", "cid");
        let rows = s.snapshot();
        assert_eq!(rows[0].0, "bea");
        assert_eq!(
            rows[0].1,
            Score {
                wins: 2,
                draws: 0,
                losses: 0
            }
        );
        let ana = rows.iter().find(|r| r.0 == "ana").unwrap().1;
        assert_eq!(
            ana,
            Score {
                wins: 0,
                draws: 1,
                losses: 2
            }
        );
    }
}
