//! Problema 3: en construcción (véase el README del problema).
