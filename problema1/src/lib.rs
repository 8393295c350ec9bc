//! Problema 1: en construcción (véase el README del problema).
