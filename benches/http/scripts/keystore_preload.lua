-- Writes keys r-0 .. r-<BENCH_READ_KEYS - 1> (force: a repeat overwrites) for
-- keystore_get.lua, and stops once that many answers came back.
local common = dofile(os.getenv("BENCH_SCRIPTS") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/v1/key-store/"
wrk.headers["Authorization"] = common.bearer()
wrk.headers["Content-Type"] = "application/json"

local next_key = 0
function request()
  local body = '{"key":"r-' .. next_key .. '","data":{"v":"' .. common.value() .. '"},"force":true}'
  next_key = (next_key + 1) % common.read_keys
  return wrk.format(nil, nil, nil, body)
end

response = common.stop_after(common.read_keys)
done = common.done
