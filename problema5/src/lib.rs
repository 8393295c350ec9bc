//! Problema 5: en construcción (véase el README del problema).
