#!/usr/bin/env bash
# Ejecuta cada objetivo de fuzzing (fuzz/fuzz_targets) durante SECS segundos y resume:
# objetivo, ejecuciones, duración y fallos. Necesita cargo-fuzz (`cargo install --locked
# cargo-fuzz`, o `INSTALAR=1` para que el guion lo instale) y un compilador de C
# (`sudo apt-get install -y build-essential`); libFuzzer exige opciones inestables de rustc, que RUSTC_BOOTSTRAP=1 permite en la toolchain
# estable.
#
#   SECS=600 bash bench/fuzz.sh         # 10 minutos por objetivo
#   SECS=20 bash bench/fuzz.sh line     # solo algunos objetivos
#   RUNS=100000 bash bench/fuzz.sh      # número fijo de entradas con semilla fija (la CI):
#                                       # el mismo código da siempre el mismo resultado
#
# Los casos nuevos se guardan en fuzz/corpus/OBJETIVO (ignorado por git); las semillas que se
# versionan están en fuzz/seeds/OBJETIVO. Un fallo deja su entrada en fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
SECS=${SECS:-600}
RUNS=${RUNS:-}
LIMIT=(-max_total_time="$SECS")
[ -z "$RUNS" ] || LIMIT=(-runs="$RUNS" -seed=1)
# FUZZ_TARGET_DIR: otro directorio de compilación (por ejemplo, para reutilizar el de otra copia).
TD=()
[ -z "${FUZZ_TARGET_DIR:-}" ] || TD=(--target-dir "$FUZZ_TARGET_DIR")
source ../bench/lib.sh   # need_tools
need_tools cargo-fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -O "${TD[@]}" >/dev/null
passed=0; failed=0
printf '| objetivo | ejecuciones | segundos | fallos |\n| --- | --- | --- | --- |\n'
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    start=$(date +%s)
    if cargo fuzz run -O "${TD[@]}" "$t" "corpus/$t" "seeds/$t" -- "${LIMIT[@]}" -rss_limit_mb=2048 -max_len=65536 >"$log" 2>&1; then
        crashes=0; passed=$((passed + 1))
    else
        crashes=1; failed=$((failed + 1)); tail -40 "$log" >&2
    fi
    secs=$(( $(date +%s) - start ))
    execs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1 || true)
    [ -n "$execs" ] || execs=$(grep -o '#[0-9]*' "$log" | tail -1 | tr -d '#' || echo "?")
    printf '| %s | %s | %s | %s |\n' "$t" "$execs" "$secs" "$crashes"
    rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
