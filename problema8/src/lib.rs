//! Problema 8: en construcción (véase el README del problema).
