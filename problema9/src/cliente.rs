//! El cliente (en construcción).
