#!/usr/bin/env bash
# problema2: caudal y latencia del eco TCP frente a socat (como servidor de eco) y a iperf3
# (el límite práctico del loopback, en un solo sentido), en la misma ejecución.
#
#   bash bench/echo.sh            # 2 GiB por prueba de caudal, 20.000 idas y vueltas
#   QUICK=1 bash bench/echo.sh    # 64 MiB y 2.000: solo demuestra que el script funciona
#
# Necesita socat, iperf3 y python3: `sudo apt-get install -y socat iperf3 python3` en
# Debian/Ubuntu, o `INSTALAR=1` como root para que el guion los instale (bench/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BYTES=$(( ${BYTES_MIB:-2048} << 20 )); COUNT=20000; SECS=5
if [ "${QUICK:-}" = 1 ]; then BYTES=$((64 << 20)); COUNT=2000; SECS=1; fi
source bench/lib.sh   # need_tools, free_port, wait_port
need_tools socat iperf3 python3

WORK=$(mktemp -d /tmp/bench-echo.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do pkill -P "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

cargo build -q --release -p problema2
cp "${CARGO_TARGET_DIR:-target}"/release/servidor "$WORK/p2-servidor"
cargo build -q --release -p bench --bin echo_load
cp "${CARGO_TARGET_DIR:-target}"/release/echo_load "$WORK/echo_load"

P_OURS=$(free_port); P_SOCAT=$(free_port); P_IPERF=$(free_port)
RUST_LOG=warn "$WORK/p2-servidor" --port "$P_OURS" >/dev/null & PIDS+=($!)
socat "TCP-LISTEN:$P_SOCAT,bind=127.0.0.1,reuseaddr,fork" PIPE & PIDS+=($!)
iperf3 -s -1 -B 127.0.0.1 -p "$P_IPERF" >/dev/null 2>&1 & PIDS+=($!)
wait_port "$P_OURS"; wait_port "$P_SOCAT"; sleep 0.3

val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ours_t=$("$WORK/echo_load" --addr "127.0.0.1:$P_OURS" throughput --bytes "$BYTES" | val throughput_mb_s)
socat_t=$("$WORK/echo_load" --addr "127.0.0.1:$P_SOCAT" throughput --bytes "$BYTES" | val throughput_mb_s)
iperf_t=$(iperf3 -c 127.0.0.1 -p "$P_IPERF" -t "$SECS" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6,1))')
ours_l=$("$WORK/echo_load" --addr "127.0.0.1:$P_OURS" latency --count "$COUNT")
socat_l=$("$WORK/echo_load" --addr "127.0.0.1:$P_SOCAT" latency --count "$COUNT")

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
echo "| medida | problema2 | socat | iperf3 (un sentido) | problema2/socat | problema2/iperf3 |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| caudal de eco, MB/s ($((BYTES >> 20)) MiB) | $ours_t | $socat_t | $iperf_t | $(ratio "$ours_t" "$socat_t") | $(ratio "$ours_t" "$iperf_t") |"
o50=$(echo "$ours_l" | val rtt_p50_us); s50=$(echo "$socat_l" | val rtt_p50_us)
o99=$(echo "$ours_l" | val rtt_p99_us); s99=$(echo "$socat_l" | val rtt_p99_us)
echo "| ida y vuelta de 1 byte, mediana µs ($COUNT) | $o50 | $s50 | | $(ratio "$o50" "$s50") | |"
echo "| ida y vuelta de 1 byte, p99 µs | $o99 | $s99 | | $(ratio "$o99" "$s99") | |"
