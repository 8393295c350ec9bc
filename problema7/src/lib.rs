//! Problema 7: en construcción (véase el README del problema).
