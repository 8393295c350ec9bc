//! La demostración (en construcción).
