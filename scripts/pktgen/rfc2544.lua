-- rfc2544.lua: Pktgen-DPDK script for the classic two-port test of fibred.
--
--   Pktgen port 0 ──► fibred port p0   (DIR-24-8 lookup)   fibred port p1 ──► Pktgen port 1
--
-- For each frame size (64 to 1518 bytes) it finds the no-drop rate, RFC 2544 style:
-- a binary search over the transmit rate (percent of line rate), each trial sending
-- for TRIAL seconds and waiting 2 s for frames in flight; a trial passes when port 1
-- received every frame port 0 sent. Destinations step through 128.0.0.0-223.255.255.255
-- (class B and C space: most of a real table's prefixes and no martian such as 127/8 or
-- 10/8, which fibre drops or punts by design) by a large odd increment, so consecutive
-- frames land far apart in the table (spread like random, the same in every run). fibred's counters are read
-- through `fibrectl -j stats` before and after each trial, so a failed trial says
-- whether fibre dropped the frames (and by which reason, with `fibrectl core show`) or
-- the NIC did (rx missed: the core was too slow).
--
-- Run it from Pktgen's directory (see docs/BENCHMARKS.md, "On hardware"):
--   FIBRE_DST_MAC=<fibred p0 MAC> pktgen -l 0-4 -n 4 -a <PCI A> -a <PCI B> -- -P \
--       -m "[1:2].0,[3:4].1" -f /path/to/fibre/scripts/pktgen/rfc2544.lua
-- Settings (environment): FIBRE_DST_MAC (required), FIBRE_SOCKET (fibred's control
-- socket, default /run/fibre/fibred.sock), FIBRECTL (default fibrectl), FIBRE_SIZES
-- (default "64 128 256 512 1024 1280 1518"), FIBRE_TRIAL (seconds, default 10; RFC 2544
-- asks 60 for the final figure), FIBRE_RESOLUTION (percent, default 0.5),
-- FIBRE_SRC_IP (default 10.0.0.10/24), FIBRE_RESULT (CSV, default rfc2544.csv).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    return v
end

local tx_port = "0"
local rx_port = "1"
local dst_mac = env("FIBRE_DST_MAC", nil)
local socket = env("FIBRE_SOCKET", "/run/fibre/fibred.sock")
local fibrectl = env("FIBRECTL", "fibrectl")
local trial_ms = tonumber(env("FIBRE_TRIAL", "10")) * 1000
local resolution = tonumber(env("FIBRE_RESOLUTION", "0.5"))
local src_ip = env("FIBRE_SRC_IP", "10.0.0.10/24")
local result_file = env("FIBRE_RESULT", "rfc2544.csv")
local sizes = {}
for s in string.gmatch(env("FIBRE_SIZES", "64 128 256 512 1024 1280 1518"), "%d+") do
    sizes[#sizes + 1] = tonumber(s)
end

if dst_mac == nil then
    error("set FIBRE_DST_MAC to the MAC of fibred's port p0 (fibrectl link show)")
end

-- Sum of every "key":N in fibrectl's JSON (a flat pattern match: no JSON library in Pktgen).
local function fibre_sum(json, key)
    local total = 0
    for n in string.gmatch(json, '"' .. key .. '":(%d+)') do total = total + tonumber(n) end
    return total
end

-- fibred's totals: frames received, forwarded, dropped and punted by all cores.
local function fibre_counters()
    local p = io.popen(fibrectl .. " -j -s " .. socket .. " stats 2>/dev/null")
    if p == nil then return nil end
    local out = p:read("*a")
    p:close()
    if out == nil or out == "" then return nil end
    local cores = string.match(out, '"cores":%[(.-)%]') or ""
    return {
        rx = fibre_sum(cores, "rx_packets"),
        forwarded = fibre_sum(cores, "forwarded"),
        dropped = fibre_sum(cores, "dropped"),
        punted = fibre_sum(cores, "punted"),
    }
end

local function port_count(port, field)
    local st = pktgen.portStats(port, "port")[tonumber(port)]
    return st[field] or 0
end

local function setup(size)
    pktgen.stop("all")
    pktgen.set_mac(tx_port, "dst", dst_mac)
    pktgen.set_ipaddr(tx_port, "src", src_ip)
    pktgen.set_proto(tx_port, "udp")
    pktgen.range.dst_mac(tx_port, "start", dst_mac)
    pktgen.range.src_ip(tx_port, "start", string.gsub(src_ip, "/.*", ""))
    pktgen.range.src_ip(tx_port, "inc", "0.0.0.0")
    pktgen.range.dst_ip(tx_port, "start", "128.0.0.1")
    pktgen.range.dst_ip(tx_port, "min", "128.0.0.0")
    pktgen.range.dst_ip(tx_port, "max", "223.255.255.255")
    pktgen.range.dst_ip(tx_port, "inc", "158.55.121.177")   -- 0x9E3779B1, odd: visits every address
    pktgen.range.src_port(tx_port, "start", 1000)
    pktgen.range.dst_port(tx_port, "start", 2000)
    pktgen.range.pkt_size(tx_port, "start", size)
    pktgen.range.pkt_size(tx_port, "min", size)
    pktgen.range.pkt_size(tx_port, "max", size)
    pktgen.range.pkt_size(tx_port, "inc", 0)
    pktgen.set_range(tx_port, "on")
    pktgen.set(tx_port, "size", size)
end

-- One trial at `rate` percent: frames sent, received, and fibre's counter deltas.
local function trial(rate)
    pktgen.clr()
    pktgen.set(tx_port, "rate", rate)
    local f0 = fibre_counters()
    local tx0, rx0 = port_count(tx_port, "opackets"), port_count(rx_port, "ipackets")
    pktgen.start(tx_port)
    pktgen.delay(trial_ms)
    pktgen.stop(tx_port)
    pktgen.delay(2000)
    local tx = port_count(tx_port, "opackets") - tx0
    local rx = port_count(rx_port, "ipackets") - rx0
    local f1 = fibre_counters()
    local fd = { dropped = -1, punted = -1, missed = -1 }
    if f0 ~= nil and f1 ~= nil then
        fd.dropped = f1.dropped - f0.dropped
        fd.punted = f1.punted - f0.punted
        -- frames the NIC delivered to fibre's cores vs frames Pktgen sent: the NIC's misses
        fd.missed = tx - (f1.rx - f0.rx)
    end
    return tx, rx, fd
end

local out = io.open(result_file, "w")
out:write("size,rate_pct,tx,rx,loss,mpps,fibre_dropped,fibre_punted,not_received_by_cores\n")
print("size  no-drop rate %   Mpps    (fibre drops, punts, frames its cores never saw at the next step up)")
for _, size in ipairs(sizes) do
    setup(size)
    local lo, hi, best = 0, 100, nil
    local rate = 100
    local fail_note = ""
    while hi - lo > resolution do
        local tx, rx, fd = trial(rate)
        local loss = tx - rx
        local mpps = rx / (trial_ms / 1000) / 1e6
        out:write(string.format("%d,%.2f,%d,%d,%d,%.3f,%d,%d,%d\n",
            size, rate, tx, rx, loss, mpps, fd.dropped, fd.punted, fd.missed))
        out:flush()
        if loss <= 0 and tx > 0 then
            best = { rate = rate, mpps = mpps }
            lo = rate
        else
            hi = rate
            fail_note = string.format("%d, %d, %d", fd.dropped, fd.punted, fd.missed)
        end
        if lo == 100 then break end
        rate = (lo + hi) / 2
    end
    if best ~= nil then
        print(string.format("%4d  %14.2f  %6.3f  (%s)", size, best.rate, best.mpps, fail_note))
    else
        print(string.format("%4d  no loss-free rate above %.2f%% (%s)", size, hi, fail_note))
    end
end
out:close()
print("trials written to " .. result_file)
