//! Problema 2: en construcción (véase el README del problema).
