//! Problema 4: en construcción (véase el README del problema).
