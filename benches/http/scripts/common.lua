-- Shared by every wrk script of benches/http (loaded with dofile by each script).
--
-- Keys are random (64 bits, hex) so that writes never collide; values are 100 bytes of
-- [A-Za-z0-9], so they need no escaping in a form or a JSON body, drawn from a pool made
-- once at start-up (building a random string per request would cost the client CPU that
-- the server under test needs: client and server share the machine).
-- Configuration comes from the environment (see run.sh):
--   BENCH_TOKEN   bearer token for the dialect under test
--   BENCH_API_KEY {apiKey} of the key-values dialect
--   BENCH_READ_KEYS  how many keys the preload wrote (reads pick one of them at random)

local common = {}

common.VALUE_BYTES = 100
local VALUE_POOL = 256
local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

-- Seeds from the kernel, so two runs in the same second draw different keys.
local function seed()
  local f = io.open("/dev/urandom", "rb")
  local s = f:read(4)
  f:close()
  local n = 0
  for i = 1, 4 do n = n * 256 + s:byte(i) end
  math.randomseed(n)
end
seed()

local function random_text(len)
  local t = {}
  for i = 1, len do
    local j = math.random(1, #ALPHABET)
    t[i] = ALPHABET:sub(j, j)
  end
  return table.concat(t)
end

local values = {}
for i = 1, VALUE_POOL do values[i] = random_text(common.VALUE_BYTES) end

function common.value()
  return values[math.random(1, VALUE_POOL)]
end

-- A fresh random key: `prefix` then 16 lowercase hex digits.
function common.random_key(prefix)
  return string.format("%s%08x%08x", prefix, math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

-- How many keys the preload wrote, and one of them at random (0-based index).
common.read_keys = tonumber(os.getenv("BENCH_READ_KEYS") or "10000")
function common.read_index()
  return math.random(0, common.read_keys - 1)
end

function common.env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then
    error(name .. " is not set (run benches/http/run.sh)")
  end
  return v
end

function common.bearer()
  return "Bearer " .. common.env("BENCH_TOKEN")
end

-- One machine-readable line for run.sh: requests, req/s, latency percentiles (µs), errors.
function common.done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end

-- For preloads: stop the thread once `n` answers came back (wrk has no request count).
function common.stop_after(n)
  local answered = 0
  return function(status, headers, body)
    answered = answered + 1
    if answered >= n then wrk.thread:stop() end
  end
end

return common
