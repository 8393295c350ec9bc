//! Problema 9: en construcción (véase el README del problema).
