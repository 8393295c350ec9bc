//! Pruebas del protocolo: tablero, minimax, órdenes y mensajes.

use super::*;
use proptest::prelude::*;

fn board(s: &str) -> Board {
    Board::parse(s).unwrap()
}

#[test]
fn every_line_is_detected_for_both_marks() {
    for line in LINES {
        for mark in [Mark::X, Mark::O] {
            let mut b = Board::new();
            for c in line {
                b.place(c, mark).unwrap();
            }
            assert_eq!(b.outcome(), Some(Outcome::Win { mark, line }));
        }
    }
}

#[test]
fn full_board_without_line_is_a_draw_and_partial_is_ongoing() {
    assert_eq!(board("XOXXOOOXX").outcome(), Some(Outcome::Draw));
    assert_eq!(board("XOXXOOOX.").outcome(), None);
    // Un tablero lleno con línea es victoria, no tablas.
    assert_eq!(
        board("XXXOOXOXO").outcome(),
        Some(Outcome::Win {
            mark: Mark::X,
            line: [1, 2, 3]
        })
    );
}

#[test]
fn place_refuses_out_of_range_and_occupied() {
    let mut b = Board::new();
    assert_eq!(b.place(0, Mark::X), Err(MoveError::OutOfRange(0)));
    assert_eq!(b.place(10, Mark::X), Err(MoveError::OutOfRange(10)));
    b.place(5, Mark::X).unwrap();
    assert_eq!(b.place(5, Mark::O), Err(MoveError::Occupied(5)));
    assert_eq!(b.to_string(), "....X....");
    assert_eq!(b.next_mark(), Mark::O);
    assert_eq!(b.free_cells(), vec![1, 2, 3, 4, 6, 7, 8, 9]);
}

#[test]
fn board_parse_rejects_bad_lengths_and_chars() {
    assert!(Board::parse("........").is_err());
    assert!(Board::parse("..........").is_err());
    assert!(Board::parse("....x....").is_err());
    assert!(Board::parse("....Ñ...").is_err());
}

#[test]
fn minimax_wins_when_it_can_and_blocks_otherwise() {
    // X gana en 3 aunque también podría tapar.
    assert_eq!(best_move(&board("XX.OO...."), Mark::X), Some(3));
    // O no puede ganar: tapa la 7.
    assert_eq!(best_move(&board("X..X.O..."), Mark::O), Some(7));
    assert_eq!(best_move(&board("XXXOO...."), Mark::O), None);
}

/// Todas las respuestas posibles del rival, recursivamente: la máquina nunca pierde.
fn cpu_never_loses(b: Board, cpu: Mark) {
    match b.outcome() {
        Some(Outcome::Win { mark, .. }) => assert_eq!(mark, cpu, "la máquina perdió: {b}"),
        Some(Outcome::Draw) => {}
        None if b.next_mark() == cpu => {
            let mut next = b;
            next.place(best_move(&b, cpu).unwrap(), cpu).unwrap();
            cpu_never_loses(next, cpu);
        }
        None => {
            for c in b.free_cells() {
                let mut next = b;
                next.place(c, cpu.other()).unwrap();
                cpu_never_loses(next, cpu);
            }
        }
    }
}

#[test]
fn minimax_never_loses_against_any_sequence_of_moves() {
    cpu_never_loses(Board::new(), Mark::X);
    cpu_never_loses(Board::new(), Mark::O);
}

#[test]
fn commands_parse_with_any_case_and_reject_bad_arguments() {
    assert_eq!(
        parse_command("name ana").unwrap(),
        Command::Name {
            name: "ana".into(),
            token: None
        }
    );
    assert_eq!(
        parse_command("HELLO ana 0123456789ABCDEF").unwrap(),
        Command::Name {
            name: "ana".into(),
            token: Some("0123456789abcdef".into())
        }
    );
    assert_eq!(parse_command("  MOVE   9  ").unwrap(), Command::Move(9));
    assert_eq!(parse_command("MOVE 0"), Err(ProtocolError::OutOfRange(0)));
    assert_eq!(parse_command("MOVE 10"), Err(ProtocolError::OutOfRange(10)));
    assert_eq!(
        parse_command("MOVE 99999999999999999999"),
        Err(ProtocolError::BadCell("99999999999999999999".into()))
    );
    assert_eq!(
        parse_command("MOVE -1"),
        Err(ProtocolError::BadCell("-1".into()))
    );
    assert_eq!(
        parse_command("MOVE"),
        Err(ProtocolError::MissingArgument("MOVE <1-9>"))
    );
    assert_eq!(
        parse_command("MOVE 1 2"),
        Err(ProtocolError::TooManyArguments("MOVE <1-9>"))
    );
    assert_eq!(
        parse_command("PLAY amigos").unwrap(),
        Command::Play(PlayTarget::Code("amigos".into()))
    );
    assert!(parse_command("PLAY a/b").is_err());
    assert_eq!(parse_command("WATCH 12").unwrap(), Command::Watch(12));
    assert!(parse_command("WATCH x").is_err());
    assert!(parse_command("LIST all").is_err());
    assert_eq!(parse_command(""), Err(ProtocolError::Empty));
    assert_eq!(
        parse_command("BAILAR").unwrap_err().code(),
        ErrorCode::UnknownCommand
    );
    assert_eq!(
        parse_command("NAME cpu").unwrap_err().code(),
        ErrorCode::BadName
    );
    assert!(parse_command("NAME ana token").is_err());
    assert!(parse_command("NAME abcdefghijklmnopq").is_err());
    assert!(parse_command("NAME abcdefghijklmnop").is_ok());
}

#[test]
fn server_messages_encode_as_documented() {
    let b = board("X...O....");
    let cases = [
        (
            ServerMessage::Moved {
                game: 3,
                mark: Mark::O,
                cell: 5,
                board: b,
                next: Some(Mark::X),
            },
            "MOVED 3 O 5 X...O.... X",
        ),
        (
            ServerMessage::Win {
                game: 3,
                mark: Mark::X,
                name: "ana".into(),
                line: [1, 5, 9],
            },
            "WIN 3 X ana 1,5,9",
        ),
        (
            ServerMessage::Forfeit {
                game: 1,
                mark: Mark::O,
                name: "bea".into(),
                reason: ForfeitReason::Disconnected,
            },
            "FORFEIT 1 O bea DISCONNECTED",
        ),
        (
            ServerMessage::error(ErrorCode::Occupied, "la casilla 5 ya está ocupada"),
            "ERROR OCCUPIED la casilla 5 ya está ocupada",
        ),
        (
            ServerMessage::Board {
                game: 2,
                board: b,
                turn: None,
            },
            "BOARD 2 X...O.... -",
        ),
    ];
    for (msg, line) in cases {
        assert_eq!(msg.encode(), line);
        assert_eq!(ServerMessage::parse(line).unwrap(), msg);
    }
}

#[test]
fn bad_server_lines_are_errors_not_panics() {
    for line in [
        "",
        "MOVED",
        "MOVED 1 X 10 ......... O",
        "WIN 1 X ana 1,2",
        "BOARD 1 ........ X",
        "ERROR NOPE texto",
        "GAMES -1",
        "HELLO ana corto",
    ] {
        assert!(ServerMessage::parse(line).is_err(), "{line}");
    }
}

fn arb_mark() -> impl Strategy<Value = Mark> + Clone {
    prop_oneof![Just(Mark::X), Just(Mark::O)]
}

fn arb_board() -> impl Strategy<Value = Board> {
    proptest::collection::vec(prop_oneof![Just('.'), Just('X'), Just('O')], 9)
        .prop_map(|v| board(&v.into_iter().collect::<String>()))
}

fn arb_message() -> impl Strategy<Value = ServerMessage> {
    let name = "[A-Za-z0-9_-]{1,16}";
    let text = "[^\r\n]{0,40}";
    let turn = proptest::option::of(arb_mark());
    prop_oneof![
        text.prop_map(ServerMessage::Welcome),
        (name, "[0-9a-f]{16}").prop_map(|(name, token)| ServerMessage::Hello { name, token }),
        (any::<u64>(), arb_mark(), 1u8..=9, arb_board(), turn.clone()).prop_map(
            |(game, mark, cell, board, next)| ServerMessage::Moved {
                game,
                mark,
                cell,
                board,
                next
            }
        ),
        (any::<u64>(), arb_mark(), name, 0usize..8).prop_map(|(game, mark, name, i)| {
            ServerMessage::Win {
                game,
                mark,
                name,
                line: LINES[i],
            }
        }),
        (any::<u64>(), name, name, 0usize..10, arb_board(), turn).prop_map(
            |(id, x, o, moves, board, turn)| ServerMessage::Game(GameSummary {
                id,
                x,
                o,
                moves,
                board,
                turn
            })
        ),
        (0usize..20, text).prop_map(|(i, text)| ServerMessage::Error {
            code: ERROR_CODES[i].0,
            text
        }),
        (name, any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(name, wins, draws, losses)| {
            ServerMessage::Score {
                name,
                wins,
                draws,
                losses,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn server_messages_round_trip(msg in arb_message()) {
        prop_assert_eq!(ServerMessage::parse(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn moves_round_trip(cell in 1u8..=9) {
        let cmd = Command::Move(cell);
        prop_assert_eq!(parse_command(&cmd.encode()).unwrap(), cmd);
    }

    #[test]
    fn board_round_trips(b in arb_board()) {
        prop_assert_eq!(Board::parse(&b.to_string()).unwrap(), b);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,60}") {
        let _ = parse_command(&s);
        let _ = ServerMessage::parse(&s);
    }

    #[test]
    fn best_move_is_always_a_free_cell(b in arb_board(), me in arb_mark()) {
        if let Some(c) = best_move(&b, me) {
            prop_assert!(b.get(c).is_none());
        } else {
            prop_assert!(b.outcome().is_some());
        }
    }
}
