//! Cliente (en construcción).
