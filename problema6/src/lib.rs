//! Problema 6: en construcción (véase el README del problema).
