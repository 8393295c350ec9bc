//! Dibuja las gráficas de `bench/graficas/` (issue 19): cada CSV del directorio que tenga una
//! gráfica descrita en [`PLOTS`] se convierte en un SVG con el mismo nombre, y su tabla se
//! imprime en Markdown (con el cociente entre las dos primeras series) para pegarla en
//! `bench/README.md`.
//!
//! `bench/graficas.sh` hace las medidas y escribe los CSV; este programa solo dibuja, así que
//! cambiar el aspecto de una gráfica no obliga a medir otra vez:
//!
//! ```sh
//! cargo run --release -p bench --bin graficas -- bench/graficas
//! ```
//!
//! Formato de cada CSV: líneas `#` de comentario (se ignoran), una cabecera y filas
//! `serie,x,y[,más columnas]`. Cada serie (problema4, nginx...) es una línea de la gráfica;
//! las columnas de más (errores, entregas perdidas) solo salen en la tabla.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

/// Convierte en SVG los CSV de un directorio de gráficas.
#[derive(Parser)]
struct Args {
    /// Directorio con los CSV; los SVG se escriben a su lado
    #[arg(default_value = "bench/graficas", value_name = "DIRECTORIO")]
    dir: PathBuf,
}

/// Lo que se dibuja para un CSV: sus textos (en español) y la escala.
struct Plot {
    /// Nombre del CSV y del SVG, sin extensión.
    name: &'static str,
    /// Título de la gráfica.
    title: &'static str,
    /// Rótulo del eje horizontal.
    x_label: &'static str,
    /// Rótulo del eje vertical.
    y_label: &'static str,
    /// Esquina de la leyenda: la que deja libres las líneas.
    legend: SeriesLabelPosition,
}

/// Las gráficas que conoce el programa; un CSV con otro nombre se ignora con un aviso.
const PLOTS: &[Plot] = &[
    Plot {
        name: "http_peticiones",
        title: "problema4 (un hilo por conexión) frente a nginx: peticiones por segundo",
        x_label: "conexiones simultáneas (escala logarítmica)",
        y_label: "peticiones por segundo",
        legend: SeriesLabelPosition::UpperLeft,
    },
    Plot {
        name: "http_memoria",
        title: "problema4 (un hilo por conexión) frente a nginx: memoria",
        x_label: "conexiones simultáneas (escala logarítmica)",
        y_label: "memoria residente máxima (MiB)",
        legend: SeriesLabelPosition::UpperLeft,
    },
    Plot {
        name: "http_cpu",
        title: "problema4 (un hilo por conexión) frente a nginx: CPU por petición",
        x_label: "conexiones simultáneas (escala logarítmica)",
        y_label: "µs de CPU del servidor por petición",
        legend: SeriesLabelPosition::UpperLeft,
    },
    Plot {
        name: "chat_entregas",
        title: "problema3 (dos hilos por cliente) frente a redis: entregas por segundo",
        x_label: "clientes en la sala (escala logarítmica)",
        y_label: "entregas por segundo",
        legend: SeriesLabelPosition::UpperLeft,
    },
    Plot {
        name: "chat_memoria",
        title: "problema3 (dos hilos por cliente) frente a redis: memoria",
        x_label: "clientes en la sala (escala logarítmica)",
        y_label: "memoria residente máxima (MiB)",
        legend: SeriesLabelPosition::UpperLeft,
    },
    Plot {
        name: "chat_cpu",
        title: "problema3 (dos hilos por cliente) frente a redis: CPU por entrega",
        x_label: "clientes en la sala (escala logarítmica)",
        y_label: "µs de CPU del servidor por entrega",
        // Con 2 clientes, la CPU por entrega de problema3 es el punto más alto de la gráfica.
        legend: SeriesLabelPosition::UpperRight,
    },
];

/// Tamaño de cada SVG, en píxeles.
const SIZE: (u32, u32) = (860, 500);

/// Colores de las series, por orden de aparición en el CSV: el nuestro primero (rojo) y la
/// referencia después (azul).
const COLORS: &[RGBColor] = &[RGBColor(200, 45, 35), RGBColor(30, 90, 180)];

/// Una serie: su nombre y sus puntos `(x, y, columnas de más)` en el orden del CSV.
#[derive(Debug, PartialEq)]
struct Series {
    name: String,
    points: Vec<(f64, f64, Vec<String>)>,
}

/// Un CSV leído: los nombres de sus columnas y sus series por orden de aparición.
#[derive(Debug, PartialEq)]
struct Table {
    header: Vec<String>,
    series: Vec<Series>,
}

fn main() {
    if let Err(e) = run(&Args::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("no se pudo leer el directorio {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    entries.sort();
    if entries.is_empty() {
        bail!(
            "no hay ningún CSV en {}: ejecute antes bench/graficas.sh",
            args.dir.display()
        );
    }
    for csv in entries {
        let stem = csv.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let Some(plot) = PLOTS.iter().find(|p| p.name == stem) else {
            eprintln!("aviso: {} no es de ninguna gráfica conocida", csv.display());
            continue;
        };
        let text = std::fs::read_to_string(&csv)
            .with_context(|| format!("no se pudo leer {}", csv.display()))?;
        let table = parse_csv(&text).with_context(|| format!("{}", csv.display()))?;
        let mut svg = String::new();
        draw(plot, &table, &mut svg).with_context(|| format!("dibujando {}", plot.name))?;
        let out = csv.with_extension("svg");
        std::fs::write(&out, svg)
            .with_context(|| format!("no se pudo escribir {}", out.display()))?;
        let name = |p: &PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
        println!(
            "{} -> {}\n",
            name(&csv).unwrap_or_default(),
            name(&out).unwrap_or_default()
        );
        println!("{}", markdown_table(&table));
    }
    Ok(())
}

/// Lee un CSV de gráfica (véase el formato en la cabecera del módulo).
///
/// # Errores
///
/// Si falta la cabecera, si una fila tiene menos de tres columnas o si `x`/`y` no son
/// números (con `x` > 0: el eje es logarítmico); el mensaje da el número de línea.
fn parse_csv(text: &str) -> anyhow::Result<Table> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((_, header)) = lines.next() else {
        bail!("el CSV está vacío");
    };
    let header: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    let mut series: Vec<Series> = Vec::new();
    for (number, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let [name, x, y, rest @ ..] = cells.as_slice() else {
            bail!("línea {number}: hacen falta al menos tres columnas (serie,x,y): {line:?}");
        };
        let x: f64 = x
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x > 0.0)
            .with_context(|| format!("línea {number}: x debe ser un número positivo: {x:?}"))?;
        let y: f64 = y
            .parse()
            .ok()
            .filter(|y: &f64| y.is_finite())
            .with_context(|| format!("línea {number}: y debe ser un número: {y:?}"))?;
        let extra = rest.iter().map(|c| c.to_string()).collect();
        match series.iter_mut().find(|s| s.name == *name) {
            Some(s) => s.points.push((x, y, extra)),
            None => series.push(Series {
                name: name.to_string(),
                points: vec![(x, y, extra)],
            }),
        }
    }
    if series.is_empty() {
        bail!("el CSV no tiene ninguna fila de datos");
    }
    Ok(Table { header, series })
}

/// Dibuja la tabla como una gráfica de líneas con el eje x logarítmico y marcas en cada x
/// medido; escribe el SVG en `out`.
fn draw(plot: &Plot, table: &Table, out: &mut String) -> anyhow::Result<()> {
    let xs = distinct_xs(table);
    let (Some(&x_min), Some(&x_max)) = (xs.first(), xs.last()) else {
        bail!("no hay puntos que dibujar");
    };
    let y_max = table
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max);
    let y_top = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    // Los decimales del eje y: ninguno si los valores son grandes (peticiones por segundo),
    // uno o dos si son pequeños (µs de CPU por entrega).
    let y_decimals = match y_top {
        t if t >= 50.0 => 0,
        t if t >= 2.0 => 1,
        _ => 2,
    };
    let y_fmt = move |y: &f64| format_es(*y, y_decimals);
    let x_fmt = |x: &f64| format_es(*x, 0);

    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 24))
        .margin(18)
        .x_label_area_size(50)
        .y_label_area_size(120)
        .build_cartesian_2d(
            (x_min * 0.8..x_max * 1.25)
                .log_scale()
                .with_key_points(xs.clone()),
            0.0..y_top,
        )?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc(plot.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style(("sans-serif", 19))
        .label_style(("sans-serif", 17))
        .max_light_lines(0)
        .draw()?;
    for (i, series) in table.series.iter().enumerate() {
        let color = COLORS.get(i).copied().unwrap_or_else(|| {
            let (r, g, b) = Palette99::pick(i).to_rgba().rgb();
            RGBColor(r, g, b)
        });
        let style = color.stroke_width(3);
        let mut points: Vec<(f64, f64)> = series.points.iter().map(|p| (p.0, p.1)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(points, style).point_size(5))?
            .label(series.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        .position(plot.legend.clone())
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Los valores de x de todas las series, ordenados y sin repetir.
fn distinct_xs(table: &Table) -> Vec<f64> {
    let mut xs: Vec<f64> = table
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    xs
}

/// La tabla en Markdown: una fila por x, el y de cada serie, el cociente de la primera serie
/// frente a la segunda y, si el CSV tiene columnas de más, las de cada serie.
fn markdown_table(table: &Table) -> String {
    let x_name = table.header.get(1).map_or("x", String::as_str);
    let y_name = table.header.get(2).map_or("y", String::as_str);
    let extra_names = table.header.get(3..).unwrap_or_default();
    let names: Vec<&str> = table.series.iter().map(|s| s.name.as_str()).collect();
    let mut head = vec![x_name.to_string()];
    head.extend(names.iter().map(|n| format!("{n}: {y_name}")));
    if let [first, second, ..] = names.as_slice() {
        head.push(format!("{first}/{second}"));
    }
    for extra in extra_names {
        head.extend(names.iter().map(|n| format!("{extra} {n}")));
    }
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", " ---: |".repeat(head.len()));
    for x in distinct_xs(table) {
        let mut row = vec![format_es(x, 0)];
        let ys: Vec<Option<f64>> = table
            .series
            .iter()
            .map(|s| point_at(s, x).map(|p| p.1))
            .collect();
        row.extend(ys.iter().map(|y| y.map_or("-".into(), format_value)));
        if let [Some(a), Some(b), ..] = ys.as_slice() {
            row.push(if *b > 0.0 {
                format!("{}×", format_es(a / b, 2))
            } else {
                "-".into()
            });
        } else if ys.len() >= 2 {
            row.push("-".into());
        }
        for k in 0..extra_names.len() {
            row.extend(table.series.iter().map(|s| {
                point_at(s, x)
                    .and_then(|p| p.2.get(k))
                    .map_or("-".into(), |v| v.clone())
            }));
        }
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out
}

/// El punto de una serie en `x`, si lo tiene.
fn point_at(series: &Series, x: f64) -> Option<&(f64, f64, Vec<String>)> {
    series.points.iter().find(|p| p.0 == x)
}

/// Un valor de la tabla: sin decimales si es grande, con uno si no y con dos si es menor
/// que 1 (µs de CPU por entrega).
fn format_value(v: f64) -> String {
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 1.0 => 1,
        _ => 2,
    };
    format_es(v, decimals)
}

/// Un número a la española: coma decimal y, con cinco cifras enteras o más, grupos de tres
/// separados por un espacio fino (`12 345,6`; `1234` queda igual, como pide la RAE).
fn format_es(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut grouped = String::new();
    let digits = int.len();
    for (i, c) in int.chars().enumerate() {
        if digits > 4 && i > 0 && (digits - i) % 3 == 0 {
            grouped.push('\u{2009}');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped},{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# medido el 2026-12-06\n\
        servidor,conexiones,peticiones_s,errores\n\
        problema4,1,10000,0\n\
        nginx,1,20000,0\n\
        problema4,1000,30000,2\n\
        nginx,1000,60000,0\n";

    #[test]
    fn csv_rows_are_grouped_into_series_in_order_of_appearance() {
        let table = parse_csv(SAMPLE).unwrap();
        assert_eq!(
            table.header,
            ["servidor", "conexiones", "peticiones_s", "errores"]
        );
        let names: Vec<&str> = table.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["problema4", "nginx"]);
        assert_eq!(
            table.series[0].points,
            [
                (1.0, 10000.0, vec!["0".to_string()]),
                (1000.0, 30000.0, vec!["2".to_string()])
            ]
        );
    }

    #[test]
    fn bad_rows_are_reported_with_their_line_number() {
        let err = parse_csv("s,x,y\na,1\n").unwrap_err().to_string();
        assert!(err.contains("línea 2"), "{err}");
        let err = parse_csv("s,x,y\na,0,1\n").unwrap_err().to_string();
        assert!(err.contains("positivo"), "{err}");
        let err = parse_csv("s,x,y\na,1,abc\n").unwrap_err().to_string();
        assert!(err.contains("línea 2"), "{err}");
        assert!(parse_csv("# solo un comentario\n").is_err());
        assert!(parse_csv("s,x,y\n").is_err());
    }

    #[test]
    fn svg_has_title_axes_and_both_series() {
        let table = parse_csv(SAMPLE).unwrap();
        let mut svg = String::new();
        draw(&PLOTS[0], &table, &mut svg).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "peticiones por segundo",
            "conexiones simultáneas",
            "problema4",
            "nginx",
            "\n1000\n",
            "60\u{2009}000",
        ] {
            assert!(svg.contains(text), "falta {text:?} en el SVG");
        }
    }

    #[test]
    fn markdown_table_has_one_row_per_x_with_the_ratio() {
        let table = parse_csv(SAMPLE).unwrap();
        let md = markdown_table(&table);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(
            lines[0],
            "| conexiones | problema4: peticiones_s | nginx: peticiones_s | problema4/nginx \
             | errores problema4 | errores nginx |"
        );
        assert_eq!(
            lines[2],
            "| 1 | 10\u{2009}000 | 20\u{2009}000 | 0,50× | 0 | 0 |"
        );
        assert_eq!(
            lines[3],
            "| 1000 | 30\u{2009}000 | 60\u{2009}000 | 0,50× | 2 | 0 |"
        );
    }

    #[test]
    fn numbers_use_decimal_comma_and_group_only_from_five_digits() {
        assert_eq!(format_es(1234.0, 0), "1234");
        assert_eq!(format_es(12345.0, 0), "12\u{2009}345");
        assert_eq!(format_es(1234567.3, 1), "1\u{2009}234\u{2009}567,3");
        assert_eq!(format_es(0.456, 2), "0,46");
        assert_eq!(format_es(-2.5, 1), "-2,5");
        assert_eq!(format_es(-0.01, 0), "0");
    }
}
